"""The bundled model's tokenizer as a ``tokenizers`` Tokenizer (what the converted folder's tokenizer.json holds).

Built from the pieces, scores, special ids and normalisation map of the 4-bit file (:mod:`kb.model.q4`): the XLM-R
SentencePiece Unigram model, whose per-code-point normalisation map becomes NFKC plus the few rules where the map
differs from it. Importing this module is cheap: tokenizers is imported where used.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError
from kb.model.q4 import Q4Model

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_META = "\u2581"  # SentencePiece metaspace
# Unicode noncharacters (reserved for internal use) that protect a few code points from NFKC.
_GUARD_OPEN = "\ufdd0"
_GUARD_FIRST = 0xFDD1
_GUARD_LAST = 0xFDEF


def normalizer_plan(norm_map: dict[int, str]) -> tuple[dict[str, list[int]], list[int]]:
    """How to reproduce the file's per-code-point normalisation map with NFKC plus a few rules.

    Returns (replacements, exempt): ``replacements`` maps an output string to the code points the
    map rewrites to it where NFKC would not (control characters -> "", odd spaces -> " "); ``exempt``
    lists code points that NFKC changes but the map leaves alone (e.g. U+FF5E FULLWIDTH TILDE).
    """
    from tokenizers import normalizers

    nfkc = normalizers.NFKC()
    replacements: dict[str, list[int]] = {}
    for cp, out in sorted(norm_map.items()):
        if 0xD800 <= cp < 0xE000 or cp > 0x10FFFF:
            continue
        if nfkc.normalize_str(chr(cp)) != out:
            replacements.setdefault(out, []).append(cp)
    exempt = []
    for cp in range(0x110000):
        if cp in norm_map or 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        # unicodedata pre-filters cheaply; tokenizers' own NFKC decides
        if not unicodedata.is_normalized("NFKC", ch) and nfkc.normalize_str(ch) != ch:
            exempt.append(cp)
    return replacements, exempt


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]"


def build_tokenizer(m: Q4Model) -> Tokenizer:
    """The XLM-R SentencePiece Unigram tokenizer of the file as a ``tokenizers`` Tokenizer.

    Normalisation: the file's map where it differs from NFKC, NFKC, runs of spaces -> one space;
    Metaspace ``▁`` (prepended always); template ``<s> $A </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    replacements, exempt = normalizer_plan(m.norm_map)
    if len(exempt) > _GUARD_LAST - _GUARD_FIRST + 1:
        raise ModelError(
            f"{len(exempt)} code points need NFKC exemptions, the converter supports "
            f"{_GUARD_LAST - _GUARD_FIRST + 1}: the installed tokenizers package does not fit this converter"
        )
    steps: list[Any] = []
    for out, cps in sorted(replacements.items()):
        steps.append(normalizers.Replace(Regex(_char_class(cps)), out))
    guards = [(chr(cp), _GUARD_OPEN + chr(_GUARD_FIRST + i)) for i, cp in enumerate(exempt)]
    steps += [normalizers.Replace(ch, guard) for ch, guard in guards]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(guard, ch) for ch, guard in guards]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = list(zip(m.pieces, m.scores, strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)],
    )
    specials = [m.pieces[i] for i in sorted({m.bos, m.pad, m.eos, m.unk})]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if m.pieces[-1] == "<mask>":
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok
