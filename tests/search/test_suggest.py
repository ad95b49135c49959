from __future__ import annotations

import random
from pathlib import Path

import pytest

from kb.index.suggestions import Suggestion
from kb.search.suggest import Suggester

ITEMS = [
    Suggestion("반품 신청은 어떻게 하나요?", "return", "취소/반품/교환", "title"),
    Suggestion("반품하고 싶어요", "return", "취소/반품/교환", "question"),
    Suggestion("반품 배송비는 얼마인가요?", "return-fee", "취소/반품/교환", "title"),
    Suggestion("반품", None, "취소/반품/교환", "tag"),
    Suggestion("배송조회는 어디서 하나요?", "tracking", "배송", "title"),
    Suggestion("배송", "tracking", "배송", "tag"),
    Suggestion("환불은 언제 되나요?", "refund", "환불", "title"),
    Suggestion("비밀번호를 잊어버렸어요", "password", "회원/계정", "title"),
    Suggestion("현금영수증 발급 방법", "receipt", "영수증/증빙", "title"),
    Suggestion("How do I get a refund?", "en-refund", "환불", "title"),
    Suggestion("Shipping status", "en-ship", "배송", "title"),
    Suggestion("환불", None, "환불", "category"),
]


@pytest.fixture(scope="module")
def sg() -> Suggester:
    return Suggester(ITEMS)


def texts(sg: Suggester, q: str, limit: int = 8) -> list[str]:
    return [s.text for s in sg.suggest(q, limit)]


def test_choseong_query_finds_the_word_and_the_question(sg: Suggester) -> None:
    got = texts(sg, "ㅂㅍ")
    assert got[0] == "반품"  # the short term first
    assert "반품 신청은 어떻게 하나요?" in got
    assert "배송" not in got


def test_choseong_of_a_whole_question(sg: Suggester) -> None:
    assert texts(sg, "ㅂㅅㅈㅎ") == ["배송조회는 어디서 하나요?"]
    assert texts(sg, "ㅂㅍ ㅅㅊ")[0] == "반품 신청은 어떻게 하나요?"  # spaces in the query are ignored


@pytest.mark.parametrize("q", ["반ㅍ", "반푸", "반품"])
def test_half_typed_last_syllable(sg: Suggester, q: str) -> None:
    got = texts(sg, q)
    assert got[0] == "반품"
    assert all(t.startswith("반품") for t in got)


def test_open_syllable_prefixes_both_vowels(sg: Suggester) -> None:
    got = texts(sg, "바")
    assert "반품" in got and "배송" in got


def test_word_prefix_and_spacing(sg: Suggester) -> None:
    assert texts(sg, "신청") == ["반품 신청은 어떻게 하나요?"]
    assert texts(sg, "반품신청") == ["반품 신청은 어떻게 하나요?"]  # spacing does not matter


def test_infix(sg: Suggester) -> None:
    scored = Suggester(ITEMS).suggest_scored("영수증")
    assert scored[0][0].text == "현금영수증 발급 방법" and scored[0][1] == "infix"


@pytest.mark.parametrize(("q", "want"), [("환뷸", "환불"), ("비빌번호", "비밀번호를 잊어버렸어요"),
                                         ("refnd", "How do I get a refund?"), ("shiping", "Shipping status")])
def test_typos(sg: Suggester, q: str, want: str) -> None:
    assert want in texts(sg, q)


def test_latin_prefix_is_case_insensitive(sg: Suggester) -> None:
    assert texts(sg, "SHIP") == ["Shipping status"]
    assert texts(sg, "how do") == ["How do I get a refund?"]


def test_ranking_tiers() -> None:
    sg = Suggester([
        Suggestion("다른 반품 이야기", "a", "x", "title"),  # word prefix
        Suggestion("반품 규정 안내 전체 보기", "b", "x", "title"),  # prefix, long
        Suggestion("반품 기간", "c", "x", "title"),  # prefix, short
        Suggestion("무료반품", "d", "x", "title"),  # infix
    ])
    scored = sg.suggest_scored("반품")
    assert [s.text for s, _ in scored] == ["반품 기간", "반품 규정 안내 전체 보기", "다른 반품 이야기", "무료반품"]
    assert [how for _, how in scored] == ["prefix", "prefix", "word", "infix"]


def test_popular_articles_rank_first() -> None:
    items = [Suggestion("반품 기간", "a", "x", "title"), Suggestion("반품 규정 안내", "b", "x", "title")]
    assert Suggester(items).suggest("반품")[0].article_id == "a"
    assert Suggester(items, popularity={"b": 20}).suggest("반품")[0].article_id == "b"


def test_at_most_two_per_article_and_limit() -> None:
    items = [Suggestion(f"반품 질문 {i}", "same", "x", "question") for i in range(5)]
    items += [Suggestion(f"반품 다른 {i}", f"o{i}", "x", "title") for i in range(5)]
    got = Suggester(items).suggest("반품", limit=8)
    assert len(got) == 7  # 2 of "same" + 5 others
    assert sum(1 for s in got if s.article_id == "same") == 2
    assert len(Suggester(items).suggest("반품", limit=3)) == 3


def test_duplicates_keep_the_stronger_kind() -> None:
    sg = Suggester([Suggestion("환불", "r", "환불", "tag"), Suggestion("환불", None, "환불", "category")])
    assert sg.suggest("환불") == [Suggestion("환불", None, "환불", "category")]
    assert len(sg) == 1


@pytest.mark.parametrize("q", ["", "   ", "?!", "zzzzqqq", "ㅋㅋㅋㅋㅋ"])
def test_nothing(sg: Suggester, q: str) -> None:
    assert sg.suggest(q) == []


def test_from_index(small_index: Path) -> None:
    from kb.index.store import load_index

    sg = Suggester.from_index(load_index(small_index))
    got = sg.suggest("ㅂㅅ")
    kinds = {s.text: s.kind for s in sg.suggest("배송")}
    assert kinds.get("배송") == "category"
    assert kinds.get("배송조회") == "tag"
    assert any(s.article_id == "delivery-tracking" for s in got)
    assert sg.suggest("택배 언")[0] == Suggestion("택배 언제 와요?", "delivery-tracking", "배송", "question")
    assert [s.text for s in sg.suggest("ㅂㅁㅂㅎ")] == ["비밀번호를 잊어버렸어요"]
    assert sg.suggest("refund t")[0].article_id == "en-refund"
    assert not any(s.article_id == "membership" for s in sg.suggest("멤버십"))  # drafts are not indexed


def synthetic(n: int, seed: int = 7) -> list[Suggestion]:
    """n question-like texts built from customer-center words (deterministic)."""
    words = ("반품 교환 환불 배송 조회 주문 취소 결제 카드 현금영수증 세금계산서 회원가입 탈퇴 비밀번호 아이디 로그인 "
             "쿠폰 포인트 적립 사용 기간 방법 신청 철회 수거 택배 송장 주소 변경 오류 승인 영수증 발급 상품 불량 "
             "파손 누락 오배송 사이즈 색상 옵션 재고 입고 알림 고객센터 상담 문의 전화 앱 알림톡 문자 이메일 "
             "정기배송 선물하기 해외배송 관세 부분취소 무통장입금 가상계좌 카카오페이 네이버페이 "
             "토스 할부 무이자").split()
    endings = ("은 어떻게 하나요?", "이 안 돼요", " 언제 되나요?", "하고 싶어요", " 방법 알려주세요",
               "는 어디서 하나요?", "")
    latin = "refund return shipping order cancel payment receipt account password coupon point delivery".split()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 10 == 0:
            text = " ".join(rng.sample(latin, 3)) + "?"
        else:
            text = " ".join(rng.sample(words, rng.randint(2, 5))) + rng.choice(endings)
        out.append(Suggestion(f"{text} {i}", f"a{i // 4}", "cat", "question" if i % 4 else "title"))
    return out


QUERIES = ["ㅂ", "ㅂㅍ", "ㅎㅂ", "ㅂㅅㅈㅎ", "반", "반ㅍ", "반품", "반품 신", "배송 조회", "환뷸", "비빌번호", "영수증",
           "쿠폰 사용", "re", "refu", "refnud", "shipping", "결제 오류", "카카오페", "ㅋㅋㅇ", "선물하기 취소 방법",
           "zzz", "관세", "무이자 할부"]


def test_a_large_index_still_completes_every_kind_of_input() -> None:
    # its speed is measured by scripts/bench.py ("suggest in process"), not asserted here
    sg = Suggester(synthetic(5000))
    for q in QUERIES:
        assert len(sg.suggest(q)) <= 8
    assert sg.suggest("ㅂㅍ") and sg.suggest("반ㅍ") and sg.suggest("refnud")
