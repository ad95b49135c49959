"""Learning end to end with the real bundled model on the sample knowledge base: evidence in the store, the one
policy, the gated build, a real search; what agents teach for an agents-only article never reaches customers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kb.feedback.evidence import Evidence
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME
from kb.index.store import read_learned, read_manifest, resolve_build
from kb.pipeline import gated_build, open_build
from kb.settings import Settings

AGENT_WORDING = "고객이 한달 지난 반품 환불을 원하면 어떻게 처리해요"
PUBLIC_WORDING = "택배 추적"  # kb has the tracking article second, unsure (decision none): a customer settles it


def test_learning_through_the_store_build_and_search(real_settings: Settings, real_embedder,  # type: ignore[no-untyped-def]
                                                     sample_root: Callable[[str], Path]) -> None:
    settings = replace(real_settings, index_dir=sample_root("learning"))
    assert gated_build(settings, real_embedder).learned == 0  # no store yet: nothing learned, none created
    assert read_learned(settings.index_dir) == {} and not (Path(settings.index_dir) / FILENAME).exists()
    cold = open_build(settings.index_dir, real_embedder)

    def rank(searcher, query: str, article_id: str, audience: str) -> tuple[int | None, bool]:  # type: ignore[no-untyped-def]
        resp = searcher.search(query, k=10, audience=audience)
        ids = [h.article_id for h in resp.results]
        return (ids.index(article_id) + 1 if article_id in ids else None), resp.decision == "answer"

    evidence = Evidence(SQLiteEngine(Path(settings.index_dir) / FILENAME))
    # an agent copies the agents-only exception procedure; a customer votes the tracking article helpful
    at, sure = rank(cold, AGENT_WORDING, "late-refund-exception", "agents")
    assert at is not None and at <= 3
    assert evidence.add(AGENT_WORDING, "late-refund-exception", "copied", "10.0.0.7", at, "agents", sure)
    at, sure = rank(cold, PUBLIC_WORDING, "delivery-tracking", "public")
    assert at is not None and at <= 3
    assert evidence.add(PUBLIC_WORDING, "delivery-tracking", "helpful", "203.0.113.9", at, "public", sure)
    if at > 1:  # kb has it below another article: a customer's vote alone waits, an agent's copy re-ranks it
        assert evidence.add(PUBLIC_WORDING, "delivery-tracking", "copied", "10.0.0.8", at, "agents", sure)
    # a customer cannot teach the agents-only article, whatever they send
    assert evidence.add("예외 환불", "late-refund-exception", "helpful", "203.0.113.10", 1, "public", False)

    stats = gated_build(settings, real_embedder)
    assert stats.learned == 2 and stats.notes == ()
    assert read_manifest(resolve_build(settings.index_dir))["counts"]["learned"] == 2
    learned = open_build(settings.index_dir, real_embedder)

    agent_top = learned.search(AGENT_WORDING, k=3, audience="agents").results[0]
    assert (agent_top.article_id, agent_top.entry_field) == ("late-refund-exception", "learned")
    public = learned.search(AGENT_WORDING, k=50)
    assert "late-refund-exception" not in [h.article_id for h in public.results]
    assert all(h.entry_field != "learned" or h.question != AGENT_WORDING for h in public.results)
    customer_top = learned.search(PUBLIC_WORDING, k=3).results[0]
    assert (customer_top.article_id, customer_top.entry_field) == ("delivery-tracking", "learned")
    # learned wordings are matched, never offered as type-ahead suggestions
    assert not {AGENT_WORDING, PUBLIC_WORDING} & {s.text for items in learned.index.suggestions.values()
                                                    for s in items}
