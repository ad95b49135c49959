"""tokenizer.json read for :class:`kb.model.tokenizer.UnigramTokenizer`, and the small derived file kept beside it.

Converting the 16 MB tokenizer.json (scores read exactly as `tokenizers` reads them: :func:`serde_json_f64`) takes
seconds and leaves garbage behind, so :func:`load_tokenizer` keeps the result in ``tokenizer.kb-trie`` beside it and
later loads read that in milliseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from kb.errors import ModelError
from kb.files import sha256_file, write_atomic
from kb.model.tokenizer import MAX_LENGTH, UnigramTokenizer, UnigramVocab, check_pipeline

TRIE_FILE = "tokenizer.kb-trie"  # derived from tokenizer.json at the first load; not part of the export marker
_TRIE_MAGIC = b"kb-unigram-trie 1\n"  # bump the number when the derived file's content changes: older are rebuilt
_JSON_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
_U64_MAX = 2**64 - 1
_POW10 = [float(f"1e{k}") for k in range(309)]  # serde_json's table: the f64 literals 1e0 .. 1e308


def load_tokenizer(path: Path, pad_id: int) -> UnigramTokenizer:
    """The tokenizer of tokenizer.json at path; truncates to MAX_LENGTH tokens, pads to the longest text.

    Its vocabulary is kept beside it in ``tokenizer.kb-trie`` (written atomically at the first load, checked against
    tokenizer.json's sha256 at every load, rebuilt when it does not match): a load then takes milliseconds and leaves
    no garbage of the 16 MB JSON behind. A folder that cannot be written to is served from memory.
    """
    source_sha256 = sha256_file(path)
    derived = path.with_name(TRIE_FILE)
    found = _read_derived(derived, source_sha256)
    if found is not None:
        try:
            return UnigramTokenizer(*found, pad_id)
        except (ModelError, ValueError, RuntimeError):
            pass  # a damaged derived file whose checksum still matched: rebuilt below
    pipeline, vocab = _convert_tokenizer_json(path)
    tokenizer = UnigramTokenizer(pipeline, vocab, pad_id)
    _write_derived(derived, source_sha256, pipeline, vocab)
    return tokenizer


def tokenizer_from_json(path: Path, pad_id: int, max_length: int = MAX_LENGTH) -> UnigramTokenizer:
    """Convert tokenizer.json in memory (no derived file: a load of seconds that leaves more garbage behind)."""
    return UnigramTokenizer(*_convert_tokenizer_json(path), pad_id, max_length)


def serde_json_f64(literal: str) -> float:
    """A JSON number as serde_json reads it without its float_roundtrip feature, as `tokenizers` does.

    It keeps up to 19 digits as an integer, rounds that to a float, then multiplies or divides once by a power of
    ten: two roundings, so 65,856 of the 250,002 scores in the bundled tokenizer.json come out one ulp away from
    Python's correctly rounded value. That ulp decides ties (▁kn+nn+n or ▁kn+n+nn for "knnnn").
    """
    match = _JSON_NUMBER.fullmatch(literal)
    if match is None:
        raise ValueError(f"not a JSON number: {literal!r}")
    negative, whole, fraction, exp = match.groups()
    significand, exponent = 0, 0
    for i, digit in enumerate(map(int, whole)):
        if significand > (_U64_MAX - digit) // 10:  # would overflow u64: the integer's other digits only scale it
            exponent += len(whole) - i
            break
        significand = significand * 10 + digit
    for digit in map(int, fraction or ""):
        if significand > (_U64_MAX - digit) // 10:  # would overflow u64: the other decimals are ignored
            break
        significand = significand * 10 + digit
        exponent -= 1
    exponent += int(exp or 0)
    value = float(significand)  # round to nearest, ties to even, as Rust's `as f64`
    while True:
        if abs(exponent) < len(_POW10):
            value = value * _POW10[exponent] if exponent >= 0 else value / _POW10[-exponent]
            break
        if value == 0.0:
            break
        if exponent >= 0:
            raise ValueError(f"number out of range: {literal!r}")
        value /= 1e308  # beyond the table: serde_json divides by 1e308 first
        exponent += 308
    if math.isinf(value):
        raise ValueError(f"number out of range: {literal!r}")
    return -value if negative else value


def _convert_tokenizer_json(path: Path) -> tuple[dict[str, Any], UnigramVocab]:
    """(pipeline, vocabulary) of a tokenizer.json holding a Unigram model; scores read as `tokenizers` reads them."""
    fix = f"delete {path.parent} and run `kb build` again to re-export it"
    try:
        data = json.loads(path.read_bytes(), parse_float=serde_json_f64)
        model = data.pop("model")
        vocab = model.pop("vocab")
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise ModelError(f"cannot read the tokenizer {path}: {exc} ({fix})") from None
    try:
        if model.get("type") != "Unigram" or model.get("byte_fallback") or not isinstance(model.get("unk_id"), int):
            raise ModelError("expected a Unigram model with an unknown token and no byte fallback, found "
                             f"{json.dumps(model)[:200]}")
        data["model"] = model  # its settings only: the pipeline goes into the derived file's header
        # checked here, so that an error names the file; UnigramTokenizer compiles them again (from the header)
        check_pipeline(data)
        return data, UnigramVocab.from_pieces(vocab, model["unk_id"])
    except ModelError as exc:
        raise ModelError(f"kb cannot reproduce the tokenizer {path}: {exc} ({fix})") from None


def _read_derived(path: Path, source_sha256: str) -> tuple[dict[str, Any], UnigramVocab] | None:
    """(pipeline, vocabulary) from a derived file made from tokenizer.json of that sha256; None if missing or stale."""
    try:
        data = path.read_bytes()
        magic, header_line, body = data.split(b"\n", 2)
        header = json.loads(header_line)
        if (magic + b"\n" != _TRIE_MAGIC or header["source_sha256"] != source_sha256
                or header["body_sha256"] != hashlib.sha256(body).hexdigest()):
            return None
        a, b = header["trie_bytes"], header["trie_bytes"] + header["ids_bytes"]
        return header["pipeline"], UnigramVocab(body[:a], body[a:b], body[b:], int(header["unk_id"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_derived(path: Path, source_sha256: str, pipeline: dict[str, Any], vocab: UnigramVocab) -> None:
    """Write the derived file atomically (a temp file renamed over it); a folder that cannot be written is skipped."""
    body = vocab.trie + vocab.ids + vocab.scores
    header = {"source": "tokenizer.json", "source_sha256": source_sha256,
              "body_sha256": hashlib.sha256(body).hexdigest(),
              "trie_bytes": len(vocab.trie), "ids_bytes": len(vocab.ids), "unk_id": vocab.unk_id, "pipeline": pipeline}
    data = _TRIE_MAGIC + json.dumps(header, ensure_ascii=True).encode() + b"\n" + body
    with contextlib.suppress(OSError):
        write_atomic(path, data)
