"""Offline evaluation: labelled queries against an index, ranking metrics plus the decision's quality.

``run_eval(faq_path=..., queries_path=...)`` builds an index from a benchmark FAQ (the shared JSONL format,
see :mod:`kb.articles.benchmarks`) and evaluates; without ``faq_path`` it evaluates the live articles index
(``settings.index_dir``), with article ids as relevant ids.

``run_learning_eval(events, faq, queries)`` (``kb eval --learn-from``) replays customers' evidence through the
code the server runs: the cold index ranks each event's article for its wording (the rank the server stores),
the events go through :class:`~kb.feedback.evidence.Evidence` (normalisation, one client once, the daily cap)
and the one policy (:func:`~kb.feedback.learning.learn`), the learned set is built in, and the queries are
evaluated on both builds, side by side.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.articles.benchmarks import LabelledQuery, jsonl_rows, load_faq, load_queries
from kb.errors import KBError, QueryError
from kb.feedback.evidence import AUDIENCES, RANK_DEPTH, SIGNALS, Evidence
from kb.feedback.learning import DEFAULT_POLICY, STATES, Learned, Policy, live_questions, verdict
from kb.feedback.sqlite import SQLiteEngine
from kb.index.build import build_index
from kb.pipeline import open_build
from kb.search.fusion import DEFAULT, FusionConfig
from kb.search.searcher import check_query
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.articles.parse import Article
    from kb.model.embed import Embedder
    from kb.search.searcher import Searcher, SearchResponse

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


def eval_index_root(settings: Settings | None, faq_path: Path) -> Path | None:
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
    from kb.model.embed import load_embedder  # looked up when called: the CLI's tests put a fake model there

    settings = settings or Settings.from_env()
    queries = load_queries(Path(queries_path))
    embedder = embedder or load_embedder(settings)
    if faq_path is None:
        return evaluate(open_build(Path(settings.index_dir), embedder, fusion=fusion), queries)
    faq = Path(faq_path)
    root = eval_index_root(settings, faq)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        index_root = root or Path(tmp)
        build_index(load_faq(faq), embedder, index_root)
        return evaluate(open_build(index_root, embedder, fusion=fusion), queries)


# -- learning, replayed ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One line of an events file: someone telling kb which article answered a wording.

    ``{"query", "relevant_ids", "client"?, "signal"?, "audience"?}``. Without a client, each line is another
    customer. The article is the relevant one kb ranks highest for the wording (the one a customer recognises
    among the results), else the first relevant id (found some other way: kb's rank is then "not found").
    ``signal`` defaults to ``helpful``; ``audience`` to ``agents`` for ``copied`` (agents copy), else ``public``.
    """

    query: str
    relevant_ids: tuple[str, ...]
    client: str | None = None
    signal: str = "helpful"
    audience: str = "public"


def load_events(path: Path) -> list[Event]:
    """An events JSONL file, checked line by line (``file:line`` in every message)."""
    out: list[Event] = []
    for n, row in jsonl_rows(path):
        ids = row.get("relevant_ids")
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(row.get("query"), str) or not isinstance(ids, list) \
                or not ids or not all(isinstance(i, str) and i for i in ids):
            raise KBError(f"{path}:{n}: expected {{\"query\": text, \"relevant_ids\": [ids]}}")
        signal = str(row.get("signal") or "helpful")
        audience = str(row.get("audience") or ("agents" if signal == "copied" else "public"))
        if signal not in SIGNALS or audience not in AUDIENCES:
            raise KBError(f"{path}:{n}: signal must be one of {', '.join(SIGNALS)} and audience one of "
                          f"{', '.join(AUDIENCES)}, found {signal!r} / {audience!r}")
        client = row.get("client")
        out.append(Event(row["query"], tuple(ids), None if client is None else str(client), signal, audience))
    if not out:
        raise KBError(f"{path}: no events")
    return out


@dataclass(frozen=True)
class Replay:
    """What a replay of events did: evidence stored or refused, and the policy's verdict on every pair."""

    events: int
    stored: int  # evidence rows kept
    refused: int  # repeats, past a client's daily cap, unlearnable wordings (empty, too long)
    learned: tuple[Learned, ...]

    @property
    def live(self) -> dict[str, tuple[str, ...]]:
        return live_questions(self.learned)

    def summary(self) -> dict[str, int]:
        states = {s: sum(1 for x in self.learned if x.state == s) for s in STATES}
        return {"events": self.events, "stored": self.stored, "refused": self.refused, **states}


def replay(events: Sequence[Event], searcher: Searcher, evidence: Evidence, articles: Sequence[Article], *,
           mode: str = "auto", policy: Policy = DEFAULT_POLICY) -> Replay:
    """Record the events as the server would (kb's own rank of the article and whether it answered the wording
    outright, from ``searcher``) in ``evidence``, then ask the one policy what it learns from all it holds."""
    ranked: dict[int, tuple[list[str], bool]] = {}  # event -> kb's ranking of its wording, and whether kb answered
    for audience in AUDIENCES:  # searched as the server does, for the audience of the request
        todo = []
        for i, e in enumerate(events):
            if e.audience == audience:
                try:
                    todo.append((i, check_query(e.query, RANK_DEPTH)))
                except QueryError:
                    pass  # no search, no evidence: refused below
        responses = searcher.search_many([t for _, t in todo], k=RANK_DEPTH, audience=audience) if todo else []
        ranked.update((i, ([h.article_id for h in r.results], r.decision == "answer"))
                      for (i, _), r in zip(todo, responses, strict=True))
    stored = 0
    for i, e in enumerate(events):  # in file order: the daily cap keeps a client's first rows, as it would live
        if i not in ranked:
            continue
        ids, confident = ranked[i]
        article = next((a for a in ids if a in e.relevant_ids), e.relevant_ids[0])
        rank = ids.index(article) + 1 if article in ids else None
        client = f"client:{e.client}" if e.client is not None else f"line:{i + 1}"
        stored += evidence.add(e.query, article, e.signal, client, rank, e.audience, confident)
    learned = verdict(evidence, articles, mode, policy)
    return Replay(len(events), stored, len(events) - stored, tuple(learned))


def compare_learning(articles: Sequence[Article], events: Sequence[Event], queries: Sequence[LabelledQuery],
                     embedder: Embedder, cold_root: Path, learned_root: Path, *, mode: str = "auto",
                     policy: Policy = DEFAULT_POLICY, fusion: FusionConfig = DEFAULT) -> dict[str, Any]:
    """Build the cold index, replay the events on it into a fresh evidence store, build with what was learned,
    and evaluate ``queries`` on both: ``{"cold": {...}, "learned": {...}, "learning": {...}}``."""
    build_index(articles, embedder, cold_root)
    cold = open_build(cold_root, embedder, fusion=fusion)
    result = {"cold": evaluate(cold, queries)}
    with tempfile.TemporaryDirectory(prefix="kb-replay-") as tmp:
        outcome = replay(events, cold, Evidence(SQLiteEngine(Path(tmp) / "evidence.sqlite")), articles,
                         mode=mode, policy=policy)
    learned_root.mkdir(parents=True, exist_ok=True)
    cache = learned_root / "embeddings.sqlite"
    if not cache.exists() and (cold_root / "embeddings.sqlite").exists():
        shutil.copyfile(cold_root / "embeddings.sqlite", cache)  # the articles' vectors: embed only what was learned
    build_index(articles, embedder, learned_root, learned=outcome.live)
    result["learned"] = evaluate(open_build(learned_root, embedder, fusion=fusion), queries)
    result["learning"] = {**outcome.summary(), "questions": sum(len(w) for w in outcome.live.values())}
    return result


def run_learning_eval(
    events_path: Path | str,
    faq_path: Path | str,
    queries_path: Path | str,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    *,
    policy: Policy = DEFAULT_POLICY,
    fusion: FusionConfig = DEFAULT,
) -> dict[str, Any]:
    """``kb eval --learn-from``: the FAQ's queries evaluated cold and after learning from the events, through
    the server's code (in the mode of ``settings.learn``). See :func:`compare_learning`."""
    from kb.model.embed import load_embedder  # looked up when called: the CLI's tests put a fake model there

    settings = settings or Settings.from_env()
    embedder = embedder or load_embedder(settings)
    faq = Path(faq_path)
    articles, queries, events = load_faq(faq), load_queries(Path(queries_path)), load_events(Path(events_path))
    root = eval_index_root(settings, faq)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        cold_root = root or Path(tmp) / "cold"
        return compare_learning(articles, events, queries, embedder, cold_root,
                                cold_root.with_name(cold_root.name + "-learned"), mode=settings.learn,
                                policy=policy, fusion=fusion)


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


def format_learning_report(result: dict[str, Any], title: str = "") -> str:
    """The human-readable form of a ``run_learning_eval`` result: cold and learned side by side."""
    cold, learned, facts = result["cold"], result["learned"], result["learning"]

    def row(name: str, get: Any, fmt: str = "{:.4f}") -> str:
        a, b = get(cold), get(learned)
        shown = ["n/a" if v is None else fmt.format(v) for v in (a, b)]
        return f"{name:<18}{shown[0]:>9}{shown[1]:>9}"

    lines = [*([title] if title else []), f"{'':<18}{'cold':>9}{'learned':>9}",
             row("queries", lambda r: r["n"], "{}")]
    lines += [row(label, lambda r, k=key: r[k]) for label, key in
              (("hit@1", "hit@1"), ("hit@5", "hit@5"), ("MRR@10", "mrr@10"), ("nDCG@10", "ndcg@10"))]
    lines += [row("answer precision", lambda r: r["decision"]["answer_precision"]),
              row("answer coverage", lambda r: r["decision"]["answer_coverage"])]
    lines.append(f"learning: {facts['events']} events, {facts['stored']} kept ({facts['refused']} refused); "
                 f"{facts['questions']} questions learned; {facts['pending']} pending an editor, "
                 f"{facts['vetoed']} vetoed")
    return "\n".join(lines)
