"""kb.model.tokenizer: the same ids as `tokenizers` on a synthetic tokenizer.json, (slow) on the real vocabulary
and every code point, and a refusal of what it does not reproduce."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from kb.errors import ModelError
from kb.model.onnx import TOKENIZER_FILE, bundled_onnx_dir
from kb.model.tokenizer import nfkc
from kb.model.tokenizer_json import tokenizer_from_json
from tests.model.tokenizer_ref import HARD_CASES, ROOT, assert_same_encoding, corpus_texts, fuzz_texts


def test_tokenizer_gives_the_ids_of_tokenizers(synthetic_tokenizer_json: Path) -> None:
    new = tokenizer_from_json(synthetic_tokenizer_json, pad_id=1)
    texts = [*HARD_CASES, *("query: " + t for t in HARD_CASES), *fuzz_texts(3000)]
    assert_same_encoding(synthetic_tokenizer_json, new, texts)
    short = tokenizer_from_json(synthetic_tokenizer_json, pad_id=1, max_length=9)
    assert_same_encoding(synthetic_tokenizer_json, short, texts, max_length=9)  # truncation, specials counted
    # lone surrogates, which `tokenizers` refuses, read as U+FFFD instead of raising
    assert new.ids("반품\ud800x") == new.ids("반품\ufffdx") and new.ids("\udcff") == new.ids("\ufffd")


def test_tokenizer_refuses_what_it_does_not_reproduce(tmp_path: Path, synthetic_tokenizer_json: Path) -> None:
    data = json.loads(synthetic_tokenizer_json.read_text(encoding="utf-8"))
    changes = {
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"},
        "pre_tokenizer": {"type": "Whitespace"},
        "normalizer": {"type": "Lowercase"},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    }
    for key, value in changes.items():
        (tmp_path / "other.json").write_text(json.dumps({**data, key: value}), encoding="utf-8")
        with pytest.raises(ModelError) as err:
            tokenizer_from_json(tmp_path / "other.json", 1)
        assert str(err.value).startswith(f"kb cannot reproduce the tokenizer {tmp_path / 'other.json'}: ")
        assert ("unsupported" in str(err.value) or "expected a Unigram model" in str(err.value)) and str(
            err.value).endswith(f"(delete {tmp_path} and run `kb build` again to re-export it)")


# ----------------------------------------------------------------------------- the real vocabulary (slow)


@pytest.mark.slow
def test_tokenizer_gives_the_ids_of_tokenizers_on_the_real_vocabulary(real_cache: Path) -> None:
    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    new = tokenizer_from_json(path, pad_id=1)
    texts = [*corpus_texts(), *HARD_CASES, *fuzz_texts(3000)]
    assert len(texts) > 4000
    assert_same_encoding(path, new, [*texts, *("query: " + t for t in texts), *("passage: " + t for t in texts)])


@pytest.mark.slow
def test_tokenizer_gives_the_ids_of_tokenizers_on_the_shared_benchmarks(real_cache: Path) -> None:
    files = sorted((ROOT.parent / "shared" / "benchmarks").glob("*/queries_dev.jsonl"))
    if not files:
        pytest.skip("no shared benchmarks beside the repository (../shared/benchmarks/*/queries_dev.jsonl)")
    queries = [json.loads(line)["query"] for path in files
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    assert_same_encoding(path, tokenizer_from_json(path, pad_id=1),
                         [*queries, *("query: " + q for q in queries)])


@pytest.mark.slow
def test_every_code_point_is_normalised_and_tokenized_as_tokenizers_does(real_cache: Path) -> None:
    """Every code point (surrogates aside) through the whole pipeline, 64 to a text; and NFKC on each code point,
    on each combining mark beside marks of another class, and on each canonical decomposition."""
    normalizers = pytest.importorskip("tokenizers.normalizers")
    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    probes = list(chars)
    for ch in chars:
        if unicodedata.combining(ch):
            mark = "\u0301" if unicodedata.combining(ch) != 230 else "\u0323"
            probes += ["a" + ch + mark, "a" + mark + ch]
        if unicodedata.normalize("NFD", ch) != ch:
            probes.append(unicodedata.normalize("NFD", ch))
    reference = normalizers.NFKC()
    differ = [p for i in range(0, len(probes), 512)
              if nfkc("|".join(probes[i : i + 512])) != reference.normalize_str("|".join(probes[i : i + 512]))
              for p in probes[i : i + 512] if nfkc(p) != reference.normalize_str(p)]
    assert not differ, ("kb.model.tokenizer.nfkc differs from tokenizers' NFKC (a new Python or tokenizers has other "
                        f"Unicode tables: update _NFKC_UNASSIGNED): {[f'U+{ord(p[-1]):04X}' for p in differ[:40]]}")
    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    texts = [" ".join(chars[i : i + 64]) for i in range(0, len(chars), 64)]
    assert_same_encoding(path, tokenizer_from_json(path, pad_id=1), texts, batch=64)
