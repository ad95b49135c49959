"""The bundled model's tokenizer without `tokenizers`: tokenizer.json's ids, truncated and padded for the embedder.

tokenizer.json's pipeline done here: its normaliser, Metaspace pre-tokenizer, special tokens, template, and the
Unigram model's Viterbi search over a MARISA trie of the 250k pieces (a 0.8 MB trie; 6 MiB of RSS in all, where
`tokenizers`, a hash map per trie node, takes 281 MiB; scripts/bench_tokenizer.py). sentencepiece (45 MiB) was
tried first and gives other ids: it sums scores in float32, so it breaks ties between orders of the same pieces
("좋아요ㅋㅋㅋㅋㅋㅋㅋ": ᄏᄏ+ᄏᄏᄏ or ᄏᄏᄏ+ᄏᄏ) otherwise than `tokenizers`' float64 sums, in 513 of 6,400
repeated-character strings. The search below is `tokenizers`' own (float64 sums of the scores as it reads them,
same order, same ties); tests/model/test_tokenizer.py proves the ids equal. Reading tokenizer.json (and the derived
file kept beside it) is :mod:`kb.model.tokenizer_json`.

Importing this module is cheap: numpy and marisa_trie are imported where used.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import unicodedata
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError

if TYPE_CHECKING:
    import numpy as np

MAX_LENGTH = 512  # tokens, special tokens included: what sentence-transformers truncates to

TRIE_FIX = "pip install 'marisa-trie>=1.2,<2'"
_META = "\u2581"  # SentencePiece's metaspace
_UNK_PENALTY = 10.0  # an unknown character scores this much below the lowest piece (tokenizers, sentencepiece)
_CACHE_WORDS = 10_000  # segmented words kept (tokenizers keeps as many)
# char::is_whitespace in Rust (the White_Space property): what `tokenizers` strips beside an lstrip special token.
_RUST_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Code points that Python's unicodedata (Unicode 14.0 in Python 3.11) changes under NFKC (decomposes, reorders as
# combining marks, composes) but that `tokenizers`' NFKC (older Unicode tables) leaves alone as unassigned: ㋿,
# modifier letters, newer combining marks, ... NFKC runs between them, so they stay as they are. Found by comparing
# every code point; tests/model/test_tokenizer.py repeats the comparison and names any difference.
_NFKC_UNASSIGNED = [
    (0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xC3C, 0xC3C), (0xD3B, 0xD3C), (0xEBA, 0xEBA),
    (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA), (0x32FF, 0x32FF), (0xA7F2, 0xA7F4), (0xA82C, 0xA82C),
    (0xAB69, 0xAB69), (0x10781, 0x10785), (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10D24, 0x10D27),
    (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070), (0x1133B, 0x1133B),
    (0x1145E, 0x1145E), (0x11839, 0x1183A), (0x11930, 0x11930), (0x11935, 0x11935), (0x1193D, 0x1193E),
    (0x11943, 0x11943), (0x119E0, 0x119E0), (0x11A34, 0x11A34), (0x11A47, 0x11A47), (0x11A99, 0x11A99),
    (0x11D42, 0x11D42), (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1), (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1F16C, 0x1F16C), (0x1FBF0, 0x1FBF9),
]
_NFKC_SPLIT = re.compile("([" + "".join(f"{chr(a)}-{chr(b)}" for a, b in _NFKC_UNASSIGNED) + "])")
_ONIG_HEX = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def nfkc(text: str) -> str:
    """NFKC as `tokenizers` computes it (see _NFKC_UNASSIGNED)."""
    if text.isascii():
        return text
    parts = _NFKC_SPLIT.split(text)  # the characters left alone at odd indices
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


@dataclass(frozen=True)
class UnigramVocab:
    """A Unigram model's pieces: a MARISA trie, and per trie key the piece's id and score (little-endian arrays)."""

    trie: bytes
    ids: bytes  # int32
    scores: bytes  # float64
    unk_id: int

    @classmethod
    def from_pieces(cls, vocab: Sequence[tuple[str, float]], unk_id: int) -> UnigramVocab:
        marisa_trie = _marisa_trie()
        pieces = [piece for piece, _ in vocab]
        trie = marisa_trie.Trie(pieces)
        if len(trie) != len(pieces) or "" in trie:
            raise ModelError(f"the tokenizer's {len(pieces)} pieces are not distinct and non-empty")
        ids, scores = array("i", [0]) * len(pieces), array("d", [0.0]) * len(pieces)
        for i, (piece, score) in enumerate(vocab):
            key = trie.key_id(piece)
            ids[key], scores[key] = i, float(score)
        if sys.byteorder != "little":  # pragma: no cover
            ids.byteswap()
            scores.byteswap()
        return cls(trie.tobytes(), ids.tobytes(), scores.tobytes(), unk_id)


class UnigramTokenizer:
    """The export's tokenizer.json, without `tokenizers`: the same ids, truncated and padded as the embedder needs.

    ``pipeline`` is tokenizer.json without the model's vocabulary (in ``vocab``). :meth:`encode` does what
    `tokenizers` does with truncation to max_length and padding to the longest text: special tokens written in the
    text are taken first; every other part is normalised (tokenizer.json's steps), its spaces become ``▁`` with one
    prepended, and each ``▁`` word is segmented on its own; ``<s> ... </s>`` goes around the result. Anything else in
    tokenizer.json (another model, pre-tokenizer or template) raises ModelError.
    """

    def __init__(self, pipeline: dict[str, Any], vocab: UnigramVocab, pad_id: int,
                 max_length: int = MAX_LENGTH) -> None:
        self._steps = _normalizer_steps(pipeline.get("normalizer"))
        _check_pre_tokenizer(pipeline.get("pre_tokenizer"))
        self._bos, self._eos = _template_ids(pipeline.get("post_processor"))
        self._specials, self._special_ids = _special_tokens(pipeline.get("added_tokens") or [])
        self.pad_id = pad_id
        self._room = max_length - 2  # tokens of the text: max_length counts <s> and </s>
        self._trie = _marisa_trie().Trie().frombytes(vocab.trie)
        self._ids, self._scores = array("i"), array("d")
        self._ids.frombytes(vocab.ids)
        self._scores.frombytes(vocab.scores)
        if sys.byteorder != "little":  # pragma: no cover
            self._ids.byteswap()
            self._scores.byteswap()
        if not len(self._trie) == len(self._ids) == len(self._scores) > vocab.unk_id >= 0:
            raise ModelError(f"the tokenizer's vocabulary is inconsistent ({len(self._trie)} pieces in the trie, "
                             f"{len(self._ids)} ids, {len(self._scores)} scores, unknown id {vocab.unk_id})")
        self._unk_id = vocab.unk_id
        self._unk_score = min(self._scores) - _UNK_PENALTY
        self._cache: dict[str, list[int]] = {}

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask as int64 arrays (batch, longest text), each text cut to ``max_length``
        tokens with <s> and </s> (at most the tokenizer's own; a query's cap is smaller: kb.limits)."""
        import numpy as np

        room = self._room if max_length is None else max(0, min(self._room, max_length - 2))
        rows = [[self._bos, *self.ids(text, room)[:room], self._eos] for text in texts]
        width = max(map(len, rows), default=0)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return ids, mask

    def ids(self, text: str, limit: int | None = None) -> list[int]:
        """The token ids of text, without <s> and </s> and not truncated. Lone surrogates (undecodable bytes
        smuggled in as text; `tokenizers` refuses them) are read as U+FFFD, an unknown piece, never an error.

        With ``limit``, segmenting stops at the first word that reaches it: the ids returned (at least ``limit``
        when the text has that many) begin as the whole text's do, since every word is segmented on its own. A
        long query then costs the words the model reads, not all of them.
        """
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        out: list[int] = []
        enough = sys.maxsize if limit is None else limit
        start = 0
        if self._specials is not None:
            for match in self._specials.finditer(text):
                if self._extend(out, text[start : match.start()], enough):
                    return out
                out.append(self._special_ids[match.lastindex or 0])
                start = match.end()
        self._extend(out, text[start:], enough)
        return out

    def _extend(self, out: list[int], text: str, enough: int) -> bool:
        """Append the ids of text's words to out until it holds ``enough``; True when it does."""
        if len(out) >= enough:
            return True
        for word in self._words(text):
            out += self._segment(word)
            if len(out) >= enough:
                return True
        return False

    def _words(self, text: str) -> list[str]:
        """Normalise, then Metaspace (prepend "always", split): "a b " -> "▁a", "▁b", "▁"."""
        for step in self._steps:
            text = step(text)
        if not text:
            return []
        text = text.replace(" ", _META)
        return [_META + word for word in text.split(_META)[0 if text[0] != _META else 1 :]]

    def _segment(self, word: str) -> list[int]:
        """`tokenizers`' Unigram encode_optimized and tokenize: the best-scoring pieces (float64 sums; of equal
        scores the first found: the last piece starting earliest), a run of unknown characters as one unknown."""
        found = self._cache.get(word)
        if found is not None:
            return found
        n, unk_id, unk_score, ids, scores = len(word), self._unk_id, self._unk_score, self._ids, self._scores
        best = [0.0] * (n + 1)
        starts = [-1] * (n + 1)  # where the best path's last piece ending here starts; -1 while none is known
        pieces = [unk_id] * (n + 1)  # and its id
        prefixes = self._trie.iter_prefixes_with_ids
        for start in range(n):
            base = best[start]
            single = False  # a piece of exactly this one character
            for piece, key in prefixes(word[start:]):  # shortest first
                end = start + len(piece)
                score = base + scores[key]
                if starts[end] < 0 or score > best[end]:
                    best[end], starts[end], pieces[end] = score, start, ids[key]
                single = single or end == start + 1
            if not single:
                end, score = start + 1, base + unk_score
                if starts[end] < 0 or score > best[end]:
                    best[end], starts[end], pieces[end] = score, start, unk_id
        out: list[int] = []
        end, unknown_end = n, -1  # unknown_end: the end of a run of unknown pieces being fused
        while end > 0:
            if pieces[end] == unk_id:
                unknown_end = end if unknown_end < 0 else unknown_end
            else:
                if unknown_end >= 0:
                    out.append(self._piece_id(word[end:unknown_end]))
                    unknown_end = -1
                out.append(pieces[end])
            end = starts[end]
        if unknown_end >= 0:
            out.append(self._piece_id(word[:unknown_end]))
        out.reverse()
        if len(self._cache) >= _CACHE_WORDS:
            self._cache.clear()
        self._cache[word] = out
        return out

    def _piece_id(self, piece: str) -> int:
        key = self._trie.get(piece)
        return self._unk_id if key is None else self._ids[key]


def _marisa_trie() -> Any:
    try:
        import marisa_trie
    except ImportError:
        message = f"the bundled model's tokenizer needs marisa-trie, which is not installed: {TRIE_FIX}"
        raise ModelError(message) from None
    return marisa_trie


def _normalizer_steps(spec: Any) -> list[Callable[[str], str]]:
    """tokenizer.json's normaliser as functions: Sequence, Replace (a string or a regex) and NFKC."""
    if spec is None:
        return []
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "Sequence":
        return [step for sub in spec["normalizers"] for step in _normalizer_steps(sub)]
    if kind == "NFKC":
        return [nfkc]
    if kind == "Replace":
        content, pattern = spec["content"], spec["pattern"]
        if "String" in pattern:
            return [functools.partial(_replace, pattern["String"], content)]
        # Oniguruma's \x{HHHH} escapes are the one syntax of these patterns that Python's re spells otherwise
        regex = pattern["Regex"]
        if "\\" in _ONIG_HEX.sub("", regex):
            raise ModelError(f"unsupported regex in a Replace normaliser: {regex!r}")
        python = _ONIG_HEX.sub(lambda m: f"\\U{int(m.group(1), 16):08X}", regex)
        return [functools.partial(re.compile(python).sub, content.replace("\\", "\\\\"))]
    raise ModelError(f"unsupported normaliser {json.dumps(spec)[:200]}")


def _replace(old: str, new: str, text: str) -> str:
    return text.replace(old, new)


def check_pipeline(pipeline: dict[str, Any]) -> None:
    """Raise ModelError unless UnigramTokenizer reproduces every step of tokenizer.json's pipeline (its keys besides
    the model's vocabulary): the normaliser, pre-tokenizer, template and added tokens."""
    _normalizer_steps(pipeline.get("normalizer"))
    _check_pre_tokenizer(pipeline.get("pre_tokenizer"))
    _template_ids(pipeline.get("post_processor"))
    _special_tokens(pipeline.get("added_tokens") or [])


def _check_pre_tokenizer(spec: Any) -> None:
    want = {"type": "Metaspace", "replacement": _META, "prepend_scheme": "always", "split": True}
    if spec != want:
        raise ModelError(f"unsupported pre-tokenizer {json.dumps(spec)[:200]}, expected {json.dumps(want)}")


def _template_ids(spec: Any) -> tuple[int, int]:
    """(bos, eos) of a TemplateProcessing ``<s> $A </s>``."""
    try:
        first, seq, last = spec["single"]
        if spec["type"] != "TemplateProcessing" or seq["Sequence"]["id"] != "A":
            raise ValueError
        (bos,) = spec["special_tokens"][first["SpecialToken"]["id"]]["ids"]
        (eos,) = spec["special_tokens"][last["SpecialToken"]["id"]]["ids"]
        return int(bos), int(eos)
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"unsupported post-processor {json.dumps(spec)[:200]}, expected the template "
                         "<s> $A </s>") from None


def _special_tokens(added: list[dict[str, Any]]) -> tuple[re.Pattern[str] | None, list[int]]:
    """A regex finding the added tokens in raw text (longest first; lstrip ones take the whitespace before them)
    and the id of each of its groups (index 0 unused)."""
    alternatives, ids = [], [-1]
    for token in sorted(added, key=lambda t: -len(t["content"])):
        if token.get("normalized") or token.get("rstrip") or token.get("single_word") or not token["content"]:
            raise ModelError(f"unsupported added token {json.dumps(token)[:200]}")
        strip = f"[{_RUST_SPACE}]*" if token.get("lstrip") else ""
        alternatives.append(f"{strip}({re.escape(token['content'])})")
        ids.append(int(token["id"]))
    return (re.compile("|".join(alternatives)) if alternatives else None), ids
