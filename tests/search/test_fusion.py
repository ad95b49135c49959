from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kb.search.fusion import (
    ANSWER_AT,
    ANSWER_AT_LEARNED,
    DEFAULT,
    DENSE_ONLY,
    NONE_BELOW,
    P_CORRECT,
    Features,
    FusionConfig,
    Logistic,
    decide,
    fuse,
    minmax_top,
)


def test_minmax_top_scales_best_to_one_and_depth_to_zero() -> None:
    x = np.array([0.9, 0.8, 0.5, 0.1, -np.inf])
    out = minmax_top(x, depth=3)
    assert out[0] == 1.0 and out[2] == 0.0 and out[3] == -1.0 and out[4] == -np.inf
    assert (minmax_top(np.zeros(4), 2) == 0).all()  # a flat signal adds nothing
    assert (minmax_top(np.full(2, -np.inf), 2) == -np.inf).all()


def test_fuse_is_a_convex_combination() -> None:
    dense = np.array([0.9, 0.85, 0.7])
    lexical = np.array([0.0, 5.0, 1.0])
    cfg = FusionConfig(dense_weight=0.5, lexical_weight=0.5, char_weight=0.0, norm_depth=3)
    fused = fuse(dense, lexical, None, cfg)
    assert fused.argmax() == 1  # second in dense, first in lexical
    assert fuse(dense, lexical, None, DENSE_ONLY).argmax() == 0
    with pytest.raises(ValueError):
        fuse(None, None, None, DEFAULT)


def test_articles_in_another_language_take_their_dense_part_for_the_lexical_ones() -> None:
    dense = np.array([0.80, 0.90, 0.70])  # article 1 (another language) is the closest in meaning
    lexical = np.array([4.0, 0.0, 1.0])  # ...but no query word can occur in it
    cfg = FusionConfig(dense_weight=0.5, lexical_weight=0.5, char_weight=0.0, norm_depth=3)
    assert fuse(dense, lexical, None, cfg).argmax() == 0
    other = np.array([False, True, False])
    fused = fuse(dense, lexical, None, cfg, other)
    assert fused.argmax() == 1 and fused[1] == pytest.approx(1.0)  # scaled dense 1.0 stands in for lexical
    assert fused[[0, 2]] == pytest.approx(fuse(dense, lexical, None, cfg)[[0, 2]])  # the others as before
    assert fuse(dense, lexical, None, cfg, np.zeros(3, dtype=bool)) == pytest.approx(fuse(dense, lexical, None, cfg))


def test_default_weights_sum_to_one() -> None:
    assert DEFAULT.dense_weight + DEFAULT.lexical_weight + DEFAULT.char_weight == pytest.approx(1.0)


def test_logistic_is_monotone_in_a_positive_weight() -> None:
    m = Logistic(bias=0.0, weights=(2.0,), means=(0.5,), scales=(0.1,))
    assert m((0.5,)) == pytest.approx(0.5)
    assert m((0.4,)) < m((0.5,)) < m((0.6,))
    assert 0.0 <= m((-1e9,)) <= m((1e9,)) <= 1.0


def test_decide() -> None:
    assert decide(None).decision == "none"
    strong = Features(dense_top=0.95, dense_margin=0.08, fused_margin=0.6, coverage=1.0, char_coverage=1.0)
    weak = Features(dense_top=0.72, dense_margin=0.0, fused_margin=0.0, coverage=0.0, char_coverage=0.05)
    d = decide(strong)
    assert d.decision == "answer" and d.confidence >= ANSWER_AT
    assert decide(weak).decision == "none" and decide(weak).on_topic < NONE_BELOW
    assert 0.0 <= P_CORRECT(weak.vector()) <= P_CORRECT(strong.vector()) <= 1.0


def test_an_article_with_learned_wordings_answers_only_above_a_higher_bar() -> None:
    # a query whose top article is right with p just between the two bars: the plain article answers, one with
    # learned wordings (whose features read more sure than the models were fitted for) only suggests
    between = [Features(d, 0.02, 0.3, 0.5, 0.42) for d in np.linspace(0.85, 1.0, 3001)]
    f = next(x for x in between if ANSWER_AT <= P_CORRECT(x.vector()) < ANSWER_AT_LEARNED)
    assert decide(f).decision == "answer"
    assert decide(replace(f, learned=True)).decision == "suggest"
    sure = next(x for x in between if P_CORRECT(x.vector()) >= ANSWER_AT_LEARNED)
    assert decide(replace(sure, learned=True)).decision == "answer"
    assert ANSWER_AT < ANSWER_AT_LEARNED < 1
