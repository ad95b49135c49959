"""Search quality on the shared benchmarks: lexical only, dense only and the default fusion, one table.

    .venv/bin/python scripts/bench_quality.py                  # dev split of every benchmark
    .venv/bin/python scripts/bench_quality.py --split holdout  # needs queries_holdout.jsonl
    .venv/bin/python scripts/bench_quality.py --sets parakqc --json

Benchmarks live in ``$KB_BENCHMARKS`` (default ``../shared/benchmarks`` beside the repo, as on the dev
machines): ``<set>/faq.jsonl`` and ``<set>/queries_<split>.jsonl``. Each FAQ is built into an index in
the kb cache (``KB_CACHE_DIR``), so the second run reuses the embeddings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETS = ("parakqc", "stackfaq", "banking77")
MODES = ("lexical", "dense", "default")


def default_benchmarks() -> Path:
    env = os.environ.get("KB_BENCHMARKS")
    if env:
        return Path(env)
    for base in (ROOT.parent / "shared" / "benchmarks", Path("/work/shared/benchmarks")):
        if base.is_dir():
            return base
    return ROOT.parent / "shared" / "benchmarks"


class MemoEmbedder:
    """Wraps an embedder and remembers query vectors, so the modes of one run embed each query once."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.model_id = inner.model_id  # type: ignore[attr-defined]
        self.dimension = inner.dimension  # type: ignore[attr-defined]
        self._memo: dict[str, Any] = {}

    def embed_queries(self, texts: Sequence[str]):  # noqa: ANN201 - numpy array
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            self._memo.update(zip(todo, self.inner.embed_queries(todo), strict=False))  # type: ignore[attr-defined]
        return np.vstack([self._memo[t] for t in texts])

    def embed_passages(self, texts: Sequence[str], progress: Callable[[int], None] | None = None):  # noqa: ANN201
        return self.inner.embed_passages(texts, progress=progress)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=None, help="folder holding the benchmark sets")
    parser.add_argument("--split", default="dev", help="query split: dev (default) or holdout")
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kb.evaluate import run_eval
    from kb.model.embed import load_embedder
    from kb.search.fusion import PRESETS
    from kb.settings import Settings

    base = args.benchmarks or default_benchmarks()
    missing = [base / s / f"queries_{args.split}.jsonl" for s in args.sets
               if not (base / s / f"queries_{args.split}.jsonl").is_file()]
    if missing:
        print(f"error: no {args.split} queries: {', '.join(map(str, missing))} "
              f"(the {args.split} split is not available here)", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    embedder = MemoEmbedder(load_embedder(settings))
    results: dict[str, dict[str, dict]] = {}
    for name in args.sets:
        for mode in args.modes:
            started = time.perf_counter()
            r = run_eval(base / name / "faq.jsonl", base / name / f"queries_{args.split}.jsonl", settings, embedder,
                         fusion=PRESETS[mode])
            r["seconds"] = round(time.perf_counter() - started, 1)
            results.setdefault(name, {})[mode] = r
            if not args.json:
                print(f"  {name:<10} {mode:<8} done in {r['seconds']} s", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"split: {args.split}; model: {settings.model}")
    print(f"{'set':<10} {'mode':<8} {'n':>5} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7} {'nDCG@10':>8}"
          f" {'ans.prec':>8} {'ans.cov':>8} {'none':>6} {'rank ms':>8}")
    for name, by_mode in results.items():
        for mode, r in by_mode.items():
            d = r["decision"]
            prec = "-" if d["answer_precision"] is None else f"{d['answer_precision']:.3f}"
            print(f"{name:<10} {mode:<8} {r['n']:>5} {r['hit@1']:>6.3f} {r['hit@5']:>6.3f} {r['mrr@10']:>7.3f}"
                  f" {r['ndcg@10']:>8.3f} {prec:>8} {d['answer_coverage']:>8.3f} {d['none_rate']:>6.3f}"
                  f" {r['ranking_ms']['median']:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
