"""kb.model.hf_tokenizer: the `tokenizers` Tokenizer built from a tiny hand-made 4-bit file's vocabulary and map."""

from __future__ import annotations

from typing import Any

from kb.model.hf_tokenizer import build_tokenizer, normalizer_plan
from kb.model.q4 import Q4Model, parse_q4
from tests.model.e5s1 import tiny_norm_map


def test_normalizer_plan_finds_the_differences_from_nfkc() -> None:
    replacements, exempt = normalizer_plan(tiny_norm_map())
    assert exempt == [0xFF5E]
    assert {0x01, 0x7F} <= set(replacements[""])
    assert {0x09, 0x0A, 0x200B, 0x2581} <= set(replacements[" "])


def test_tiny_tokenizer(tiny: tuple[bytes, Any]) -> None:
    m: Q4Model = parse_q4(tiny[0])
    tok = build_tokenizer(m)
    assert tok.encode("ab").ids == [0, 7, 2]  # <s> ▁ab </s>
    assert tok.encode("a  b").ids == [0, 5, 8, 2]  # runs of spaces collapse
    assert tok.encode("a\tb").ids == tok.encode("a\u200bb").ids == [0, 5, 8, 2]
    assert tok.encode("a\x01b").ids == [0, 7, 2]  # control characters vanish
    assert tok.encode("ＡＢ").ids == tok.encode("AB").ids  # NFKC
    assert tok.normalizer is not None
    assert tok.normalizer.normalize_str("9～18") == "9～18"  # kept, as the file's map says
    assert tok.normalizer.normalize_str("ｶﾞ") == "ガ"
