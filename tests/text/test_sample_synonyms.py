"""The sample shop's synonyms (articles/_synonyms.yml) read as meant: every variant folds a word customers
type, never an everyday word that the morpheme analyser happens to cut it into."""

from __future__ import annotations

import pytest

from kb.text.analysis import Analyzer, Synonyms
from tests.conftest import SAMPLE_ARTICLES

# Words of almost any sentence: a variant that analyses to one of them alone folds every query holding it
# (``하자`` read as 하다 + 자 made every 해요 / 하나요 a 불량 query; ``아뒤`` read as 아 + 뒤 made every 뒤 an 아이디).
EVERYDAY = {"하다", "되다", "있다", "없다", "오다", "가다", "주다", "보다", "받다", "뒤", "앞", "시간", "비"}


@pytest.fixture(scope="module")
def sample() -> Analyzer:
    return Analyzer(Synonyms.load(SAMPLE_ARTICLES / "_synonyms.yml"))


def test_no_variant_folds_an_everyday_word() -> None:
    plain = Analyzer(Synonyms(keep_whole=Synonyms.load(SAMPLE_ARTICLES / "_synonyms.yml").keep_whole))
    groups = Synonyms.load(SAMPLE_ARTICLES / "_synonyms.yml").groups
    bad = [(g[0], v, plain.terms(v)) for g in groups for v in g[1:] if set(plain.terms(v)) <= EVERYDAY]
    assert not bad, bad


def test_sample_synonyms_fold_what_customers_type(sample: Analyzer) -> None:
    assert sample.terms("고객센터 몇시까지 해요") == ["고객", "센터", "몇", "시", "하다"]  # not 불량
    assert sample.terms("하자 있어요")[0] == sample.terms("불량")[0]
    assert sample.terms("3일 뒤에 와요") == ["3", "일", "뒤", "오다"]  # not 아이디
    assert sample.terms("아뒤 찾기") == sample.terms("아이디 찾기")
    assert sample.terms("영업시간") == sample.terms("영업 시간") == sample.terms("운영시간") == ["운영", "시간"]
