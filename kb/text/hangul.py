"""Hangul helpers for type-ahead: jamo decomposition, 초성 (initial consonants) and jamo edit distance.

Matching as-you-type works on *jamo*, the letters a Korean keyboard types, not on syllables: a
half-typed word like ``반ㅍ`` or ``반푸`` is not a syllable prefix of ``반품`` but its jamo
(``ㅂㅏㄴㅍ``, ``ㅂㅏㄴㅍㅜ``) are a prefix of ``ㅂㅏㄴㅍㅜㅁ``. :func:`decompose` therefore also splits
compound vowels and final consonant clusters into their parts (``ㅘ`` -> ``ㅗㅏ``, ``ㅄ`` -> ``ㅂㅅ``),
so the in-between states an input method shows (``갑`` -> ``값`` -> ``갑시``) stay prefixes too. ``ㅐ``
and ``ㅔ`` are split as ``ㅏㅣ`` / ``ㅓㅣ`` (how they are drawn): ``바`` then prefixes ``배송``, and the
common ``ㅐ``/``ㅔ`` confusion costs one edit instead of two. Everything here is pure Python and cheap.
"""

from __future__ import annotations

import unicodedata
from functools import cache

S_BASE = 0xAC00
S_LAST = 0xD7A3
V_COUNT = 21
T_COUNT = 28

CHOSEONG = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
JUNGSEONG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
JONGSEONG = ("", "ㄱ", "ㄲ", "ㄳ", "ㄴ", "ㄵ", "ㄶ", "ㄷ", "ㄹ", "ㄺ", "ㄻ", "ㄼ", "ㄽ", "ㄾ", "ㄿ", "ㅀ",
             "ㅁ", "ㅂ", "ㅄ", "ㅅ", "ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ")

# Compound letters split into what is typed or drawn. Doubled consonants (ㄲ ㄸ ㅃ ㅆ ㅉ) are one
# shifted key on the standard (2-beolsik) layout, so they stay whole.
SPLIT: dict[str, str] = {
    "ㅐ": "ㅏㅣ", "ㅒ": "ㅑㅣ", "ㅔ": "ㅓㅣ", "ㅖ": "ㅕㅣ", "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅏㅣ", "ㅚ": "ㅗㅣ",
    "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅓㅣ", "ㅟ": "ㅜㅣ", "ㅢ": "ㅡㅣ",
    "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ", "ㄽ": "ㄹㅅ",
    "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}

_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}  # ！..～ -> ! .. ~
_FULLWIDTH[0x3000] = 0x20  # ideographic space


def is_syllable(ch: str) -> bool:
    """A precomposed Hangul syllable (가..힣)."""
    return S_BASE <= ord(ch) <= S_LAST


def is_jamo(ch: str) -> bool:
    """A Hangul compatibility jamo (ㄱ..ㅣ), what a keyboard shows for a lone letter."""
    return 0x3131 <= ord(ch) <= 0x318E


def is_consonant(ch: str) -> bool:
    """A compatibility consonant jamo (ㄱ..ㅎ)."""
    return 0x3131 <= ord(ch) <= 0x314E


def normalize(text: str) -> str:
    """NFC, full-width ASCII folded, Latin lowercased, whitespace collapsed.

    Not NFKC: that would turn compatibility jamo (``ㄱ``) into conjoining ones (``ᄀ``).
    """
    text = unicodedata.normalize("NFC", text).translate(_FULLWIDTH).lower()
    return " ".join(text.split())


def syllable_parts(ch: str) -> tuple[str, str, str]:
    """(initial, medial, final) compatibility jamo of one syllable; final is "" for an open syllable."""
    code = ord(ch) - S_BASE
    if not 0 <= code <= S_LAST - S_BASE:
        raise ValueError(f"{ch!r} is not a Hangul syllable")
    return CHOSEONG[code // (V_COUNT * T_COUNT)], JUNGSEONG[code % (V_COUNT * T_COUNT) // T_COUNT], \
        JONGSEONG[code % T_COUNT]


@cache
def _letters(ch: str, split: bool) -> str:
    """Jamo of one character (cached: there are only 11,172 syllables)."""
    if is_syllable(ch):
        parts = syllable_parts(ch)
        return "".join(SPLIT.get(p, p) for p in parts) if split else "".join(parts)
    if split and ch in SPLIT:
        return SPLIT[ch]
    return ch


def decompose(text: str, split: bool = True) -> str:
    """Syllables to compatibility jamo (``반품`` -> ``ㅂㅏㄴㅍㅜㅁ``); other characters are kept.

    With ``split`` (the default) compound vowels and final clusters, written alone or inside a
    syllable, are split too (``괜`` -> ``ㄱㅗㅏㅣㄴ``), which is what prefix and typo matching want.
    """
    return "".join([_letters(ch, split) for ch in text])


def decompose_marked(text: str) -> tuple[str, list[int]]:
    """:func:`decompose` plus the offsets in the result where each source character starts."""
    parts = [_letters(ch, True) for ch in text]
    starts: list[int] = []
    size = 0
    for part in parts:
        starts.append(size)
        size += len(part)
    return "".join(parts), starts


def choseong(text: str) -> str:
    """The initial consonant of each syllable (``배송조회`` -> ``ㅂㅅㅈㅎ``); other characters are kept."""
    return "".join(CHOSEONG[(ord(ch) - S_BASE) // (V_COUNT * T_COUNT)] if is_syllable(ch) else ch
                   for ch in text)


def is_choseong_query(text: str) -> bool:
    """True when ``text`` is made only of consonant jamo (spaces allowed), e.g. ``ㅂㅍ`` or ``ㅂㅅ ㅈㅎ``."""
    letters = [ch for ch in text if not ch.isspace()]
    return bool(letters) and all(is_consonant(ch) for ch in letters)


def within_one_edit(a: str, b: str) -> bool:
    """At most one insert, delete, substitution or swap of neighbours apart (optimal string alignment
    distance <= 1), in linear time: the hot path of typo matching."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la < lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < lb and a[i] == b[i]:
        i += 1
    if la != lb:
        return a[i + 1 :] == b[i:]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
