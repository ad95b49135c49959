from __future__ import annotations

import pytest

from kb.text.hangul import (
    choseong,
    decompose,
    decompose_marked,
    is_choseong_query,
    is_consonant,
    is_jamo,
    is_syllable,
    normalize,
    romanize,
    syllable_parts,
    within_one_edit,
)


def test_syllable_parts() -> None:
    assert syllable_parts("반") == ("ㅂ", "ㅏ", "ㄴ")
    assert syllable_parts("가") == ("ㄱ", "ㅏ", "")
    assert syllable_parts("힣") == ("ㅎ", "ㅣ", "ㅎ")
    with pytest.raises(ValueError, match="not a Hangul syllable"):
        syllable_parts("a")


@pytest.mark.parametrize(
    ("text", "jamo"),
    [
        ("반품", "ㅂㅏㄴㅍㅜㅁ"),
        ("배송", "ㅂㅏㅣㅅㅗㅇ"),  # ㅐ drawn as ㅏ+ㅣ
        ("괜찮아", "ㄱㅗㅏㅣㄴㅊㅏㄴㅎㅇㅏ"),  # compound vowel and final cluster split
        ("값", "ㄱㅏㅂㅅ"),
        ("ㅄ", "ㅂㅅ"),  # a lone cluster as an input method shows it
        ("까", "ㄲㅏ"),  # doubled consonants are one key: kept whole
        ("abc 1", "abc 1"),
    ],
)
def test_decompose(text: str, jamo: str) -> None:
    assert decompose(text) == jamo


def test_decompose_without_split_keeps_compounds() -> None:
    assert decompose("괜", split=False) == "ㄱㅙㄴ"
    assert decompose("값", split=False) == "ㄱㅏㅄ"


def test_half_typed_syllables_are_jamo_prefixes() -> None:
    full = decompose("반품")
    for partial in ("ㅂ", "바", "반", "반ㅍ", "반푸", "반품"):
        assert full.startswith(decompose(partial)), partial
    assert decompose("배송").startswith(decompose("바"))  # ㅐ = ㅏ + ㅣ
    # typing 갑시다 passes through 값 (ㅂ+ㅅ join as a final cluster until the vowel comes)
    assert decompose("갑시다").startswith(decompose("값"))


def test_decompose_marked_offsets() -> None:
    jamo, starts = decompose_marked("반a품")
    assert jamo == "ㅂㅏㄴaㅍㅜㅁ"
    assert starts == [0, 3, 4]


def test_choseong() -> None:
    assert choseong("반품") == "ㅂㅍ"
    assert choseong("배송조회") == "ㅂㅅㅈㅎ"
    assert choseong("까치 abc") == "ㄲㅊ abc"


def test_character_classes() -> None:
    assert is_syllable("가") and not is_syllable("ㄱ")
    assert is_jamo("ㄱ") and is_jamo("ㅏ") and not is_jamo("가")
    assert is_consonant("ㅎ") and not is_consonant("ㅏ")


def test_is_choseong_query() -> None:
    assert is_choseong_query("ㅂㅍ")
    assert is_choseong_query("ㅂㅅ ㅈㅎ")
    assert not is_choseong_query("반ㅍ")
    assert not is_choseong_query("ㅏㅂ")
    assert not is_choseong_query("   ")


def test_normalize() -> None:
    assert normalize("  Refund   STATUS ") == "refund status"
    assert normalize("ＡＢＣ　반품") == "abc 반품"  # full-width Latin and ideographic space folded
    nfd = "\u1100\u1161\u11ab"  # 간 as conjoining jamo
    assert normalize(nfd) == "간"
    assert normalize("ㄱ") == "ㄱ"  # compatibility jamo stay as typed


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [("", "", True), ("abc", "abc", True), ("abc", "abd", True), ("abc", "ab", True), ("ab", "ba", True),
     ("kitten", "sitting", False), ("", "abc", False), ("abcd", "badc", False)],
)
def test_within_one_edit(a: str, b: str, near: bool) -> None:
    assert within_one_edit(a, b) is near
    assert within_one_edit(b, a) is near


def test_one_edit_counts_letters_not_syllables() -> None:
    def near(a: str, b: str) -> bool:
        return within_one_edit(decompose(a), decompose(b))

    assert near("환뷸", "환불")  # ㅠ for ㅜ
    assert near("배송", "베송")  # ㅐ/ㅔ: the classic confusion
    assert near("반품", "반풍") and near("반품", "반품")
    assert not near("반품", "배송")


@pytest.mark.parametrize(("hangul", "latin"), [
    ("적립금", "jeongnipgeum"),  # ㄹ after ㄱ -> ㄴ, then ㄱ -> ㅇ before it (the example)
    ("배송 조회", "baesong johoe"), ("한국어", "hangugeo"), ("비밀번호를", "bimilbeonhoreul"),  # liaison, r/l
    ("합니다", "hamnida"), ("백마", "baengma"), ("독립문", "dongnimmun"), ("종로", "jongno"),  # nasalisation
    ("신라", "silla"), ("설날", "seollal"), ("대관령", "daegwallyeong"),  # ㄴ/ㄹ together -> ll
    ("좋고", "joko"), ("축하", "chuka"), ("좋아요", "joayo"), ("많이", "mani"),  # ㅎ
    ("같이", "gachi"), ("굳이", "guji"),  # palatalisation
    ("읽어요", "ilgeoyo"), ("값이", "gapsi"), ("닭고기", "dakgogi"), ("여덟", "yeodeol"),  # clusters
    ("라면 2개, OK", "ramyeon 2gae, OK"),  # word-initial ㄹ is r; other characters are kept
])
def test_revised_romanization(hangul: str, latin: str) -> None:
    assert romanize(hangul) == latin
