"""kb.model.tokenizer_json: scores read as `tokenizers` reads them, and the derived file kept beside tokenizer.json
(reused, rebuilt when stale or damaged, skipped in a folder that cannot be written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kb.files
import kb.model.tokenizer_json as kbtok
from kb.model.onnx import TOKENIZER_FILE, bundled_onnx_dir
from kb.model.tokenizer_json import serde_json_f64
from tests.model.tokenizer_ref import (
    HARD_CASES,
    SAMPLE_QUESTIONS,
    assert_same_encoding,
    fuzz_texts,
    synthetic_vocab,
    write_tokenizer_json,
)


def test_scores_are_read_as_tokenizers_reads_them(tmp_path: Path) -> None:
    """serde_json (in `tokenizers`) rounds twice; the tokenizer reads scores the same way, so ties break alike."""
    tokenizers = pytest.importorskip("tokenizers")
    literals = ["-7.4715776443481445", "-11.871331214904785", "-3.9299705028533936", "0.0", "-0", "-1", "12",
                "-0.000123456789012345678", "-1e-3", "-2.5E+2", "-123456789012345678901234.5", "-1.5e-320",
                "-18446744073709551615.5", "-18446744073709551616", "-0.30000000000000004", "-9.999999999999999e22"]
    vocab = [["<unk>", 0.0], *([f"p{i}", f"@{i}@"] for i in range(len(literals)))]
    text = json.dumps({"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                       "pre_tokenizer": None, "post_processor": None, "decoder": None,
                       "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False}})
    for i, literal in enumerate(literals):
        text = text.replace(f'"@{i}@"', literal)
    (tmp_path / "t.json").write_text(text)
    held = json.loads(tokenizers.Tokenizer.from_file(str(tmp_path / "t.json")).to_str())["model"]["vocab"][1:]
    assert [serde_json_f64(x) for x in literals] == [score for _, score in held]
    assert serde_json_f64("-7.4715776443481445") != float("-7.4715776443481445")  # one ulp off, as tokenizers


def test_tokenizer_keeps_its_vocabulary_beside_tokenizer_json(synthetic_tokenizer_json: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:

    folder, texts = synthetic_tokenizer_json.parent, [*HARD_CASES[:40], *fuzz_texts(200, seed=2)]
    first = kbtok.load_tokenizer(synthetic_tokenizer_json, 1)
    derived = folder / kbtok.TRIE_FILE
    assert derived.is_file() and not list(folder.glob(".*.tmp"))
    assert_same_encoding(synthetic_tokenizer_json, first, texts)

    def no_conversion(path: Path) -> Any:
        raise AssertionError("converted tokenizer.json again")

    with monkeypatch.context() as m:  # the second load reads the derived file only
        m.setattr(kbtok, "_convert_tokenizer_json", no_conversion)
        assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)

    # tokenizer.json changed (another score wins): the derived file no longer matches its hash and is rebuilt
    vocab = synthetic_vocab()
    kkk = [p for p, _ in vocab].index("ᄏᄏᄏ")
    vocab[kkk] = ("ᄏᄏᄏ", -100.0)
    write_tokenizer_json(synthetic_tokenizer_json, vocab, mask=True)
    rebuilt = kbtok.load_tokenizer(synthetic_tokenizer_json, 1)
    assert first.ids("ㅋㅋㅋ") == [4, kkk] and kkk not in rebuilt.ids("ㅋㅋㅋ")
    assert_same_encoding(synthetic_tokenizer_json, rebuilt, texts)

    data = bytearray(derived.read_bytes())  # damaged (a flipped byte in the trie): rebuilt too
    data[-len(vocab) * 12 - 100] ^= 0xFF
    derived.write_bytes(bytes(data))
    assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)
    assert derived.read_bytes() != bytes(data)

    derived.unlink()  # a folder that cannot be written: served from memory, nothing left behind

    def refuse(*args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kb.files.os, "replace", refuse)
    assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)
    assert sorted(p.name for p in folder.iterdir()) == ["tokenizer.json"]


# ----------------------------------------------------------------------------- the real vocabulary (slow)


@pytest.mark.slow
def test_real_scores_and_derived_file(real_cache: Path, tmp_path: Path) -> None:
    """All 250,002 scores are read as `tokenizers` holds them; the derived file is small and loads the same."""
    tokenizers = pytest.importorskip("tokenizers")
    source = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    held = json.loads(tokenizers.Tokenizer.from_file(str(source)).to_str())["model"]["vocab"]
    ours = json.loads(source.read_bytes(), parse_float=kbtok.serde_json_f64)["model"]["vocab"]
    assert len(ours) == 250_002 and ours == held
    path = tmp_path / TOKENIZER_FILE
    path.write_bytes(source.read_bytes())
    built, loaded = kbtok.load_tokenizer(path, 1), kbtok.load_tokenizer(path, 1)
    assert (tmp_path / kbtok.TRIE_FILE).stat().st_size < 5e6
    texts = [*SAMPLE_QUESTIONS, *HARD_CASES]
    assert_same_encoding(path, built, texts)
    assert_same_encoding(path, loaded, texts)
