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


# --- Revised Romanization (국어의 로마자 표기법, 2000) --------------------------------------------------------
# Romanised as pronounced within a word: a final consonant moves onto a following ㅇ (한국어 -> hangugeo),
# nasalisation (합니다 -> hamnida, 백마 -> baengma), ㄹ after another consonant (적립금 -> jeongnipgeum, 종로 ->
# jongno, 신라 -> silla, 설날 -> seollal), aspiration next to ㅎ (좋고 -> joko, 축하 -> chuka) and
# palatalisation before 이 (같이 -> gachi). Not modelled: tensing (which RR does not write anyway), the noun
# exception that keeps ㄱㄷㅂ before ㅎ (묵호 -> Mukho; here mukho -> muko) and the optional hyphens.
_RR_INITIAL = dict(zip(CHOSEONG, ["g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s", "ss", "", "j", "jj", "ch",
                                  "k", "t", "p", "h"], strict=True))
_RR_VOWEL = dict(zip(JUNGSEONG, ["a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae", "oe", "yo", "u",
                                 "wo", "we", "wi", "yu", "eu", "ui", "i"], strict=True))
_RR_FINAL = dict(zip(JONGSEONG, ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m",
                                 "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"], strict=True))
# a final cluster before a vowel: the first part stays, the second moves on (읽어 -> 일거 -> ilgeo)
_CLUSTER = {"ㄳ": ("ㄱ", "ㅅ"), "ㄵ": ("ㄴ", "ㅈ"), "ㄶ": ("ㄴ", ""), "ㄺ": ("ㄹ", "ㄱ"), "ㄻ": ("ㄹ", "ㅁ"),
            "ㄼ": ("ㄹ", "ㅂ"), "ㄽ": ("ㄹ", "ㅅ"), "ㄾ": ("ㄹ", "ㅌ"), "ㄿ": ("ㄹ", "ㅍ"), "ㅀ": ("ㄹ", ""),
            "ㅄ": ("ㅂ", "ㅅ"), "ㅎ": ("", "")}
_ASPIRATED = {"ㄱ": "ㅋ", "ㄷ": "ㅌ", "ㅂ": "ㅍ", "ㅈ": "ㅊ"}
_NASAL = {"k": "ㅇ", "t": "ㄴ", "p": "ㅁ"}  # a stop's sound before ㄴ or ㅁ
_LATERAL = "L"  # an initial ㄹ after a final ㄹ: written l, not r


def _join(final: str, initial: str, vowel: str) -> tuple[str, str]:
    """The final and next initial as pronounced across one syllable boundary inside a word."""
    if initial == "ㅇ" and final not in ("", "ㅇ"):  # liaison
        if final in _CLUSTER:
            return _CLUSTER[final][0], _CLUSTER[final][1] or "ㅇ"
        if final in ("ㄷ", "ㅌ") and vowel == "ㅣ":
            return "", "ㅈ" if final == "ㄷ" else "ㅊ"
        return "", final
    if final in ("ㅎ", "ㄶ", "ㅀ") and initial in _ASPIRATED:
        return _CLUSTER[final][0], _ASPIRATED[initial]
    if initial == "ㅎ" and final in _ASPIRATED:
        return "", _ASPIRATED[final]
    sound = _RR_FINAL[final]
    if initial == "ㄹ" and final:
        if sound in ("n", "l"):
            return "ㄹ", _LATERAL
        initial = "ㄴ"
    if initial == "ㄴ" and sound == "l":
        return "ㄹ", _LATERAL
    if initial in ("ㄴ", "ㅁ") and sound in _NASAL:
        return _NASAL[sound], initial
    if initial == "ㄴ" and final == "ㅎ":
        return "ㄴ", initial
    return final, initial


def _romanize_word(word: str) -> str:
    parts = [list(syllable_parts(ch)) for ch in word]
    for left, right in zip(parts, parts[1:], strict=False):
        left[2], right[0] = _join(left[2], right[0], right[1])
    return "".join(("l" if i == _LATERAL else _RR_INITIAL[i]) + _RR_VOWEL[v] + _RR_FINAL[f] for i, v, f in parts)


def romanize(text: str) -> str:
    """Hangul in Revised Romanization (``적립금 사용`` -> ``jeongnipgeum sayong``); other characters are kept.

    Sound changes apply within a run of syllables (a word), never across a space or punctuation.
    """
    out: list[str] = []
    word: list[str] = []
    for ch in text:
        if is_syllable(ch):
            word.append(ch)
            continue
        if word:
            out.append(_romanize_word("".join(word)))
            word = []
        out.append(ch)
    if word:
        out.append(_romanize_word("".join(word)))
    return "".join(out)
