"""Readable ASCII ids and folder names for imported articles.

Korean is written in the standard Revised Romanization, sound changes within a word included
(:func:`kb.text.hangul.romanize`: 적립금 -> ``jeongnipgeum``, 배송 조회 -> ``baesong-johoe``), the way Korean
readers spell it in Latin letters; letter-by-letter transliteration (``jeoglibgeum``) reads as nonsense. Other
scripts go through anyascii. Text that leaves nothing readable falls back to a short hash of itself
(``faq-3f2a9c1b``), so the same text always gets the same id.
"""

from __future__ import annotations

import hashlib
import re

from kb.text.hangul import romanize

MAX_SLUG_CHARS = 48  # long enough to tell questions apart, short enough for a file name
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def short_hash(text: str, length: int = 8) -> str:
    """A stable hex digest of ``text`` (sha1, so the same on every machine and run)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def slugify(text: str, max_chars: int = MAX_SLUG_CHARS) -> str:
    """Lower-case ASCII words joined by ``-``, cut at a word boundary; empty when nothing readable is left."""
    from anyascii import anyascii

    words = _NON_SLUG.sub(" ", anyascii(romanize(text)).lower()).split()
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_chars:
            break
        slug = candidate
    if not slug and words:  # one very long word: cut it rather than lose it
        slug = words[0][:max_chars]
    return slug


def slug_or_hash(text: str, prefix: str = "faq") -> str:
    """``slugify(text)``, or ``prefix-<hash>`` when the text romanises to nothing."""
    return slugify(text) or f"{prefix}-{short_hash(text)}"
