from __future__ import annotations

import pytest

from kb.lexical import LexicalIndex
from kb.text import Analyzer, char_ngrams

DOCS = ["배송 조회는 어떻게 하나요? 택배 언제 와요", "반품 신청은 어떻게 하나요?", "비밀번호를 잊어버렸어요",
        "When will I get my refund?"]


@pytest.fixture(scope="module")
def lex() -> LexicalIndex:
    return LexicalIndex.build(DOCS, Analyzer())


def test_bm25_ranks_the_matching_document_first(lex: LexicalIndex) -> None:
    for query, expected in [("택배 언제 오나요", 0), ("반품하고 싶어요", 1), ("비밀번호 잊어버림", 2), ("refunds", 3)]:
        scores = lex.scores(lex.query_terms(query))
        assert int(scores.argmax()) == expected, query


def test_query_terms_are_distinct(lex: LexicalIndex) -> None:
    assert lex.query_terms("택배 택배 택배") == ["택배"]


def test_unknown_or_empty_query_scores_zero(lex: LexicalIndex) -> None:
    assert not lex.scores(lex.query_terms("asdfgh")).any()
    assert not lex.scores([]).any()


def test_matched_terms_and_coverage(lex: LexicalIndex) -> None:
    terms = lex.query_terms("택배 반품 언제")
    assert lex.matched_terms(terms, 0) == ("택배", "언제")
    assert lex.matched_terms(terms, 1) == ("반품",)
    assert 0 < lex.coverage(terms, 1) < lex.coverage(terms, 0) < 1
    assert lex.coverage(lex.query_terms("택배 언제"), 0) == pytest.approx(1.0)
    assert lex.coverage([], 0) == 0.0
    assert lex.coverage(["없는말"], 0) == 0.0


def test_term_lists_without_analyzer() -> None:
    lex = LexicalIndex([char_ngrams(d) for d in DOCS])
    scores = lex.scores(list(dict.fromkeys(char_ngrams("배송조회"))))  # no space: still matches by n-grams
    assert int(scores.argmax()) == 0
    with pytest.raises(ValueError):
        lex.query_terms("x")


def test_empty_corpus_and_empty_documents() -> None:
    assert not LexicalIndex([[], []]).scores(["a"]).any()
    lex = LexicalIndex([["a"], []])
    assert lex.scores(["a"]).tolist()[1] == 0.0
