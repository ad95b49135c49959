"""Personal data out of stored queries: customers paste phone numbers, e-mail addresses, order and card
numbers into the search box. Every query is scrubbed before the feedback store keeps it; the placeholders
keep what kind of thing was there (``<전화번호>``), which is what an editor needs to read the query."""

from __future__ import annotations

import re

# order matters: the most specific patterns first, so a resident number is not taken for a phone number
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<이메일>", re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")),
    # resident registration number: YYMMDD-NNNNNNN (the hyphen optional, spaces tolerated)
    ("<주민번호>", re.compile(r"(?<!\d)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?-?\s?[1-8]\d{6}(?!\d)")),
    # card-like: 4 groups of 4 digits (or 13-19 digits in a row, handled by the long-run rule below)
    ("<카드번호>", re.compile(r"(?<!\d)\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{1,7}(?!\d)")),
    # Korean phone numbers: 010-1234-5678, 010 1234 5678, 01012345678, +82 10-1234-5678, 02-123-4567, 1588-1234
    ("<전화번호>", re.compile(
        r"(?:\+82[\s-]?|(?<!\d)0)(?:1[016789]|2|[3-6][1-5]|70)[\s.-]?\d{3,4}[\s.-]?\d{4}(?!\d)")),
    ("<전화번호>", re.compile(r"(?<!\d)1[5-9]\d{2}-\d{4}(?!\d)")),
    # order numbers and any other long digit run (8+ digits, separators allowed): nothing a question needs
    ("<번호>", re.compile(r"(?<![0-9A-Za-z])\d(?:[\d-]{6,}\d)(?![0-9A-Za-z])")),
)


def scrub(text: str) -> str:
    """``text`` with phone numbers, e-mail addresses, resident, card and long numbers replaced by placeholders."""
    for placeholder, pattern in _PATTERNS:
        text = pattern.sub(placeholder, text)
    return text
