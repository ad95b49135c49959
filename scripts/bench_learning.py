"""Learning from customers, measured on the shared dev sets through the server's own code (kb.evaluate's replay:
the cold index's ranks, the evidence store's rules, the one policy, a build with what was learned).

    .venv/bin/python scripts/bench_learning.py                       # every set: learning, then the poison runs
    .venv/bin/python scripts/bench_learning.py --sets banking77 --json

Each dev set's queries are split in two by a fixed rule (a stable hash of the query text, salted so the split
is independent of the dev/holdout split): kb learns from one half, given as customers' events (each line another
customer, voting "helpful" on the relevant article kb ranks highest), and is evaluated on the other half,
cold vs learned. Then poison, pointed at the evaluation half's wordings, each at a random wrong article:

(a) one client sending them all (the daily cap keeps 30; being behind that many pairs, it teaches nothing alone);
(b) hundreds of distinct clients (300, more for a large set), each wording pointed at by 5 of them, no client
    behind more than the policy's 20 pairs nor over the daily cap: every per-client rule is dodged, and only the
    top-3 guard and the confident-answer guard stand;
(c) as (b), but each wording pointed at kb's own best-ranked wrong article (inside its top 3): what the top-3
    guard cannot see, since that is how customers correct kb;
(d) each line another client (an events file without ``client``: one vote per client, so no per-client rule
    sees anything), each wording at a random wrong article.

For the poison runs the table gives hit@1 of the poisoned wordings cold and after (no honest evidence learned).

``--folds K`` measures closer to learning from a whole dev set: the queries are split in K parts by the same kind
of salted hash, and each part is evaluated after learning from the other K - 1 (with K = 4, from three quarters);
the figures pool the K parts. No poison runs then.
Benchmarks live in ``$KB_BENCHMARKS`` (default ``../shared/benchmarks``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_quality import SETS, MemoEmbedder, default_benchmarks  # noqa: E402

POISON_CLIENTS = 300
CLIENTS_PER_WORDING = 5
SEED = 20261201


def learning_half(query: str) -> bool:
    """The fixed split: a salted hash (the dev split itself is sha256(query) even, so the plain hash would put
    every dev query in one half)."""
    return hashlib.sha256(f"kb-learning-split\x1f{query}".encode()).digest()[0] % 2 == 0


def wrong_articles(queries: list[Any], article_ids: list[str], searcher: Any, near: bool) -> list[str]:
    """For each query a wrong article: random (seeded), or kb's own best-ranked wrong one (``near``)."""
    rng = random.Random(SEED)
    if not near:
        return [rng.choice([a for a in article_ids if a not in q.relevant_ids]) for q in queries]
    out = []
    for q, resp in zip(queries, searcher.search_many([q.query for q in queries], k=10), strict=True):
        ranked = [h.article_id for h in resp.results if h.article_id not in q.relevant_ids]
        out.append(ranked[0] if ranked else rng.choice([a for a in article_ids if a not in q.relevant_ids]))
    return out


def fold_of(query: str, folds: int) -> int:
    """The fixed K-way split of ``--folds``."""
    return hashlib.sha256(f"kb-cv\x1f{query}".encode()).digest()[0] % folds


def cross_validate(articles: list[Any], queries: list[Any], folds: int, embedder: Any,
                   cold_root: Path) -> dict[str, Any]:
    """Each fold evaluated after learning from the others; hit@1 and the decision's answers pooled over the folds."""
    from kb.evaluate import Event, compare_learning

    runs = []
    for k in range(folds):
        held = [q for q in queries if fold_of(q.query, folds) == k]
        events = [Event(q.query, q.relevant_ids) for q in queries if fold_of(q.query, folds) != k]
        runs.append((len(held), compare_learning(articles, events, held, embedder, cold_root,
                                                 cold_root.with_name(cold_root.name + "-folds"))))
    out: dict[str, Any] = {"folds": folds, "queries": sum(n for n, _ in runs)}
    for side in ("cold", "learned"):
        hits = sum(n * r[side]["hit@1"] for n, r in runs)
        answered = [n * r[side]["decision"]["answer_coverage"] for n, r in runs]
        right = sum(a * r[side]["decision"]["answer_precision"] for a, (_, r) in zip(answered, runs, strict=True))
        out[side] = {"hit@1": hits / out["queries"], "answer_precision": right / max(sum(answered), 1e-9),
                     "answer_coverage": sum(answered) / out["queries"],
                     "worst_fold_precision": min(r[side]["decision"]["answer_precision"] for _, r in runs)}
    out["learned_questions"] = [r["learning"]["questions"] for _, r in runs]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=None, help="folder holding the benchmark sets")
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--no-poison", action="store_true", help="only the learning runs")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--folds", type=int, default=0, help="K-fold: learn from K-1 parts, evaluate on the other")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.articles.benchmarks import load_faq, load_queries
    from kb.evaluate import Event, compare_learning, eval_index_root
    from kb.feedback.learning import DEFAULT_POLICY
    from kb.model.embed import load_embedder
    from kb.pipeline import open_build
    from kb.settings import Settings

    base = args.benchmarks or default_benchmarks()
    settings = Settings.from_env()
    embedder = MemoEmbedder(load_embedder(settings))
    results: dict[str, dict[str, Any]] = {}
    for name in args.sets:
        started = time.perf_counter()
        faq = base / name / "faq.jsonl"
        articles = load_faq(faq)
        queries = load_queries(base / name / "queries_dev.jsonl")
        learn_half = [q for q in queries if learning_half(q.query)]
        eval_half = [q for q in queries if not learning_half(q.query)]
        cold_root = eval_index_root(settings, faq)
        assert cold_root is not None
        learned_root = cold_root.with_name(cold_root.name + "-learned")
        if args.folds > 1:
            results[name] = cross_validate(articles, queries, args.folds, embedder, cold_root)
            print(f"  {name}: {args.folds} folds done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
            continue

        honest = [Event(q.query, q.relevant_ids) for q in learn_half]  # each line another customer
        out = {"split": {"learn": len(learn_half), "eval": len(eval_half)},
               "learning": compare_learning(articles, honest, eval_half, embedder, cold_root, learned_root)}
        print(f"  {name}: learning done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        if not args.no_poison:
            ids = [a.id for a in articles]
            cold = open_build(cold_root, embedder)
            for attack, near in (("a", False), ("b", False), ("c", True), ("d", False)):
                wrong = wrong_articles(eval_half, ids, cold, near)
                if attack == "a":
                    events = [Event(q.query, (w,), "mallory") for q, w in zip(eval_half, wrong, strict=True)]
                elif attack == "d":
                    events = [Event(q.query, (w,)) for q, w in zip(eval_half, wrong, strict=True)]
                else:  # enough clients that none is behind more than `solo_pairs` pairs
                    clients = max(POISON_CLIENTS, -(-len(eval_half) * CLIENTS_PER_WORDING // DEFAULT_POLICY.solo_pairs))
                    events = [Event(q.query, (w,), f"bot-{(i * CLIENTS_PER_WORDING + k) % clients}")
                              for i, (q, w) in enumerate(zip(eval_half, wrong, strict=True))
                              for k in range(CLIENTS_PER_WORDING)]
                    out.setdefault("poison_clients", clients)
                out[f"poison_{attack}"] = compare_learning(articles, events, eval_half, embedder, cold_root,
                                                           learned_root)
                print(f"  {name}: poison ({attack}) done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        out["seconds"] = round(time.perf_counter() - started, 1)
        results[name] = out
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    if args.folds > 1:
        print_folds(results, settings.model)
        return 0
    print_tables(results, settings.model)
    return 0


def print_folds(results: dict[str, dict[str, Any]], model: str) -> None:
    k = next(iter(results.values()))["folds"] if results else 0
    print(f"each of {k} parts of the dev queries evaluated after learning from the other {k - 1}; model: {model}")
    print(f"{'set':<10} {'queries':>7} {'hit@1':>13} {'ans.prec':>13} {'ans.cov':>13} {'worst fold prec':>15}")
    for name, r in results.items():
        c, x = r["cold"], r["learned"]
        print(f"{name:<10} {r['queries']:>7} {c['hit@1']:.4f}→{x['hit@1']:.4f} "
              f"{c['answer_precision']:.4f}→{x['answer_precision']:.4f} "
              f"{c['answer_coverage']:.4f}→{x['answer_coverage']:.4f} {x['worst_fold_precision']:>15.4f}")


def print_tables(results: dict[str, dict[str, Any]], model: str) -> None:
    print(f"learning from half the dev queries (helpful votes), evaluated on the other half; model: {model}")
    print(f"{'set':<10} {'learn':>5} {'eval':>5} {'hit@1':>13} {'MRR@10':>13} {'ans.prec':>13} {'ans.cov':>13}"
          f" {'learned':>8} {'pending':>8}")
    def pair(run: dict[str, Any], get: Any) -> str:
        a, b = get(run["cold"]), get(run["learned"])
        return f"{a:.4f}→{b:.4f}" if a is not None and b is not None else "-"

    for name, r in results.items():
        run, facts = r["learning"], r["learning"]["learning"]
        cells = [pair(run, get) for get in (lambda x: x["hit@1"], lambda x: x["mrr@10"],
                                            lambda x: x["decision"]["answer_precision"],
                                            lambda x: x["decision"]["answer_coverage"])]
        print(f"{name:<10} {r['split']['learn']:>5} {r['split']['eval']:>5} "
              + " ".join(f"{c:>13}" for c in cells) + f" {facts['questions']:>8} {facts['pending']:>8}")
    if not any("poison_a" in r for r in results.values()):
        return
    print()
    print("poison pointed at the evaluation half's wordings: their hit@1 cold -> after, pairs that went live")
    print(f"{'set':<10} {'attack':<40} {'events':>6} {'kept':>6} {'hit@1':>13} {'live':>5} {'pending':>7}")
    names = {"a": "(a) one client, random wrong articles", "b": "(b) {} clients, random wrong articles",
             "c": "(c) {} clients, kb's best wrong article", "d": "(d) a client per line, random wrong"}
    for name, r in results.items():
        for attack, template in names.items():
            p = r.get(f"poison_{attack}")
            if p is None:
                continue
            label = template.format(r.get("poison_clients"))
            facts = p["learning"]
            print(f"{name:<10} {label:<40} {facts['events']:>6} {facts['stored']:>6}"
                  f" {p['cold']['hit@1']:.4f}→{p['learned']['hit@1']:.4f} {facts['live']:>5} {facts['pending']:>7}")


if __name__ == "__main__":
    raise SystemExit(main())
