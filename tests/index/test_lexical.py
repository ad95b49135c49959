from __future__ import annotations

from pathlib import Path

import pytest

from kb.index.lexical import LexicalIndex
from kb.text.analysis import Analyzer, char_ngrams

DOCS = ["배송 조회는 어떻게 하나요? 택배 언제 와요", "반품 신청은 어떻게 하나요?", "비밀번호를 잊어버렸어요",
        "When will I get my refund?"]
ANALYZER = Analyzer()


def qterms(query: str) -> list[str]:
    return list(dict.fromkeys(ANALYZER.terms(query)))


@pytest.fixture(scope="module")
def lex() -> LexicalIndex:
    return LexicalIndex.from_terms(ANALYZER.terms_many(DOCS))


def test_bm25_ranks_the_matching_document_first(lex: LexicalIndex) -> None:
    for query, expected in [("택배 언제 오나요", 0), ("반품하고 싶어요", 1), ("비밀번호 잊어버림", 2), ("refunds", 3)]:
        scores = lex.scores(qterms(query))
        assert int(scores.argmax()) == expected, query


def test_saved_and_memory_mapped_index_scores_the_same(lex: LexicalIndex, tmp_path: Path) -> None:
    lex.save(tmp_path / "lex")
    loaded = LexicalIndex.load(tmp_path / "lex", len(DOCS))
    for query in ["택배 언제 오나요", "반품하고 싶어요", "refunds", "없는말"]:
        assert loaded.scores(qterms(query)).tolist() == pytest.approx(lex.scores(qterms(query)).tolist())
        assert loaded.matched_terms(qterms(query), 0) == lex.matched_terms(qterms(query), 0)
    with pytest.raises(ValueError, match="expected 5"):
        LexicalIndex.load(tmp_path / "lex", 5)


def test_unknown_or_empty_query_scores_zero(lex: LexicalIndex) -> None:
    assert not lex.scores(qterms("asdfgh")).any()
    assert not lex.scores([]).any()


def test_matched_terms_and_coverage(lex: LexicalIndex) -> None:
    terms = qterms("택배 반품 언제")
    assert lex.matched_terms(terms, 0) == ("택배", "언제")
    assert lex.matched_terms(terms, 1) == ("반품",)
    assert 0 < lex.coverage(terms, 1) < lex.coverage(terms, 0) < 1
    assert lex.coverage(qterms("택배 언제"), 0) == pytest.approx(1.0)
    assert lex.coverage([], 0) == 0.0
    assert lex.coverage(["없는말"], 0) == 0.0


def test_character_ngram_term_lists() -> None:
    lex = LexicalIndex.from_terms([char_ngrams(d) for d in DOCS])
    scores = lex.scores(list(dict.fromkeys(char_ngrams("배송조회"))))  # no space: still matches by n-grams
    assert int(scores.argmax()) == 0


def test_empty_corpus_and_empty_documents(tmp_path: Path) -> None:
    empty = LexicalIndex.from_terms([[], []])
    assert not empty.scores(["a"]).any()
    empty.save(tmp_path / "empty")
    assert not LexicalIndex.load(tmp_path / "empty", 2).scores(["a"]).any()
    lex = LexicalIndex.from_terms([["a"], []])
    assert lex.scores(["a"]).tolist()[1] == 0.0
    assert lex.has("a", 0) and not lex.has("a", 1) and not lex.has("\x00", 0)
