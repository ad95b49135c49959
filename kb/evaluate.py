"""Offline evaluation: labelled queries against an index, ranking metrics plus the decision's quality.

``run_eval(faq_path=..., queries_path=...)`` builds an index from a benchmark FAQ (the shared JSONL format,
see :mod:`kb.articles.benchmarks`) and evaluates; without ``faq_path`` it evaluates the live articles index
(``settings.index_dir``), with article ids as relevant ids.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.search.fusion import DEFAULT, FusionConfig

if TYPE_CHECKING:
    from kb.articles.benchmarks import LabelledQuery
    from kb.model.embed import Embedder
    from kb.search.searcher import Searcher, SearchResponse
    from kb.settings import Settings

DEPTH = 10


def rank_metrics(ranked: Sequence[str], relevant: Sequence[str]) -> dict[str, float]:
    """hit@1, hit@5, reciprocal rank@10 and nDCG@10 (binary gains) of one ranked id list."""
    rel = set(relevant)
    first = next((i for i, a in enumerate(ranked[:DEPTH]) if a in rel), None)
    dcg = sum(1 / math.log2(i + 2) for i, a in enumerate(ranked[:DEPTH]) if a in rel)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(rel), DEPTH)))
    return {
        "hit@1": float(first == 0),
        "hit@5": float(first is not None and first < 5),
        "mrr@10": 0.0 if first is None else 1 / (first + 1),
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def evaluate(searcher: Searcher, queries: Sequence[LabelledQuery]) -> dict[str, Any]:
    """Search every query (k=10) and aggregate ranking and decision metrics."""
    responses = searcher.search_many([q.query for q in queries], k=DEPTH)
    return summarise(responses, queries)


def summarise(responses: Sequence[SearchResponse], queries: Sequence[LabelledQuery]) -> dict[str, Any]:
    totals = {"hit@1": 0.0, "hit@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0}
    answers = answers_right = nones = suggests = 0
    for resp, q in zip(responses, queries, strict=False):
        ranked = [h.article_id for h in resp.results]
        m = rank_metrics(ranked, q.relevant_ids)
        for key in totals:
            totals[key] += m[key]
        if resp.decision == "answer":
            answers += 1
            answers_right += int(m["hit@1"])
        elif resp.decision == "none":
            nones += 1
        else:
            suggests += 1
    n = len(queries)
    took = sorted(r.took_ms for r in responses)
    result: dict[str, Any] = {key: round(v / n, 4) for key, v in totals.items()}
    result["n"] = n
    result["decision"] = {
        "answer_precision": round(answers_right / answers, 4) if answers else None,
        "answer_coverage": round(answers / n, 4),
        "suggest_rate": round(suggests / n, 4),
        "none_rate": round(nones / n, 4),
    }
    result["ranking_ms"] = {  # time after the query embedding: lexical + fusion + decision
        "median": round(statistics.median(took), 2) if took else None,
        "p95": round(took[min(len(took) - 1, int(0.95 * len(took)))], 2) if took else None,
    }
    return result


def _eval_index_root(settings: Settings | None, faq_path: Path) -> Path | None:
    """A per-FAQ index folder in the cache, so repeated evaluations reuse the embeddings."""
    if settings is None:
        return None
    digest = hashlib.sha256(faq_path.read_bytes()).hexdigest()[:16]
    return Path(settings.cache_dir) / "eval-indexes" / f"{faq_path.parent.name}-{digest}"


def run_eval(
    faq_path: Path | str | None = None,
    queries_path: Path | str = "tests/data/sample_queries.jsonl",
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    *,
    fusion: FusionConfig = DEFAULT,
) -> dict[str, Any]:
    """Evaluate ``queries_path`` against a FAQ benchmark (built into an index first) or the live index.

    Returns ``{"hit@1", "hit@5", "mrr@10", "ndcg@10", "n", "decision": {...}, "ranking_ms": {...}}``.
    """
    import tempfile

    from kb.articles.benchmarks import load_faq, load_queries
    from kb.index.build import build_index
    from kb.model.embed import load_embedder
    from kb.pipeline import open_build
    from kb.settings import Settings

    settings = settings or Settings.from_env()
    queries = load_queries(Path(queries_path))
    embedder = embedder or load_embedder(settings)
    if faq_path is None:
        return evaluate(open_build(Path(settings.index_dir), embedder, fusion=fusion), queries)
    faq = Path(faq_path)
    root = _eval_index_root(settings, faq)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        index_root = root or Path(tmp)
        build_index(load_faq(faq), embedder, index_root)
        return evaluate(open_build(index_root, embedder, fusion=fusion), queries)


def format_report(result: dict[str, Any], title: str = "") -> str:
    """The human-readable form of a ``run_eval`` result."""
    d = result.get("decision", {})
    precision = d.get("answer_precision")
    lines = [
        *( [title] if title else [] ),
        f"queries   {result['n']}",
        f"hit@1     {result['hit@1']:.3f}",
        f"hit@5     {result['hit@5']:.3f}",
        f"MRR@10    {result['mrr@10']:.3f}",
        f"nDCG@10   {result['ndcg@10']:.3f}",
        "decision  answer {cov:.1%} of queries (right {prec}), suggest {sug:.1%}, none {none:.1%}".format(
            cov=d.get("answer_coverage", 0.0), prec="n/a" if precision is None else f"{precision:.1%}",
            sug=d.get("suggest_rate", 0.0), none=d.get("none_rate", 0.0)),
    ]
    ms = result.get("ranking_ms") or {}
    if ms.get("median") is not None:
        lines.append(f"ranking   {ms['median']:.2f} ms median, {ms['p95']:.2f} ms p95 (after embedding the query)")
    return "\n".join(lines)
