"""kb.feedback.evidence: the one normalisation of a wording (the store's behaviour on both engines is in
tests/feedback/contract.py, EvidenceContract)."""

from __future__ import annotations

import pytest

from kb.feedback.evidence import normalise_wording
from kb.limits import MAX_WORDING_CHARS


@pytest.mark.parametrize(("typed", "stored"), [
    ("  환불은   언제\t되나요?? ", "환불은 언제 되나요"),
    ("환불은 언제 되나요~!", "환불은 언제 되나요"),
    ("환불은 언제 되나요？", "환불은 언제 되나요"),
    ("How do I RESET my Password?", "how do i reset my password"),
    ("Straße...", "strasse"),  # casefolded, not just lower-cased
    ("010-1234-5678로 연락 주세요", "<전화번호>로 연락 주세요"),  # personal data scrubbed, as the search log is
    ("주문번호 2026120112345678 배송 언제?", "주문번호 <번호> 배송 언제"),
    ("a?b", "a?b"),  # only trailing punctuation goes
])
def test_a_wording_is_normalised(typed: str, stored: str) -> None:
    assert normalise_wording(typed) == stored
    assert normalise_wording(stored) == stored  # idempotent: a decision on a listed wording finds its pair


@pytest.mark.parametrize("typed", ["", "   ", "?!~...", "가" * (MAX_WORDING_CHARS + 1), "가" * 5000])
def test_an_unlearnable_wording_is_empty(typed: str) -> None:
    assert normalise_wording(typed) == ""


def test_the_limit_is_on_the_normalised_wording() -> None:
    assert normalise_wording("가" * MAX_WORDING_CHARS + "?" * 50) == "가" * MAX_WORDING_CHARS
