"""The large synthetic sets of ``scripts/bench.py``: what their approximate index costs and how well it finds the
exact dense top 10 (kb.index.ann, kb.search.dense). Run through ``bench.py --random-vectors N``."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def approximate_figures(index_dir: Path, embedder: Any, embed_random: Callable[[list[str]], Any],
                        queries: list[str]) -> None:
    """A large build's approximate index: type, its build time, files and memory, and recall@10 of the approximate
    dense step (top 10 articles by dense score alone) against exact scoring of every entry."""
    import numpy as np

    from kb.index import ann
    from kb.pipeline import open_build
    from kb.search.queries import flat_vectors

    searcher = open_build(index_dir, embedder)
    index = searcher.index
    sizes = {p.name: p.stat().st_size / 2**20 for p in index.path.iterdir() if p.is_file()}
    total = sum(p.stat().st_size for p in index.path.rglob("*") if p.is_file()) / 2**20
    rss = next((int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmRSS")), 0.0)
    if index.ann is None:
        print(f"  search              exact (no approximate index below {ann.THRESHOLD:,} entries); build "
              f"{total:.0f} MiB on disk, vectors.faiss {sizes.get('vectors.faiss', 0):.0f} MiB; RSS {rss:.0f} MiB")
        return
    params = index.ann.params
    vectors = flat_vectors(index.faiss_index)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-ann-"))
    try:
        t = time.perf_counter()
        ann.write(tmp, np.ascontiguousarray(vectors), params)
        seconds = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"  approximate index   {params.type} (M {params.m}, efConstruction {params.ef_construction}, efSearch "
          f"{params.ef_search}, top {params.candidates} entries): built in {seconds:.1f} s ({os.cpu_count()} cores)")
    print(f"  memory              ann.faiss {sizes.get(ann.ANN, 0):.0f} MiB + vectors.faiss "
          f"{sizes.get('vectors.faiss', 0):.0f} MiB, build {total:.0f} MiB on disk; RSS {rss:.0f} MiB with the "
          "model loaded")
    model_ms, approx_ms, exact_ms = [], [], []
    approximate = searcher._approx
    for text in queries:  # interleaved, so both paths see the same machine load
        t = time.perf_counter()
        qvec = searcher.embed_queries([text])[0]
        model_ms.append((time.perf_counter() - t) * 1e3)
        for path, times in ((approximate, approx_ms), (None, exact_ms)):
            searcher._approx = path
            t = time.perf_counter()
            searcher._respond(text, qvec, (None, None), 5, t)
            times.append((time.perf_counter() - t) * 1e3)
    searcher._approx = approximate
    print(f"  query stages        model p50 {np.median(model_ms):.1f} ms; the rest p50 / p95 "
          f"{np.median(approx_ms):.1f} / {np.percentile(approx_ms, 95):.1f} ms approximate, "
          f"{np.median(exact_ms):.1f} / {np.percentile(exact_ms, 95):.1f} ms exact ({len(queries)} queries)")
    rng = np.random.default_rng(3)
    rows = rng.choice(np.flatnonzero(~index.tables.is_doc), 200, replace=False)
    noise = rng.standard_normal((len(rows), vectors.shape[1])).astype(np.float32)
    noise -= (noise * vectors[rows]).sum(axis=1, keepdims=True) * vectors[rows]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    reworded = [" ".join(q.split()[1:]) or q for q in queries]  # a customer's shorter wording
    sets = {"stored question vectors perturbed to cosine 0.9": 0.9 * vectors[rows] + np.sqrt(0.19) * noise,
            "queries reworded (first word dropped), same random word vectors":
                embed_random(reworded),
            "real model queries (unrelated to the random vectors)": searcher.embed_queries(queries)}
    for label, qvecs in sets.items():
        recall, exact_ms, approx_ms = [], [], []
        for q in np.asarray(qvecs, dtype=np.float32):
            t = time.perf_counter()
            exact, _ = searcher._dense(q)
            t2 = time.perf_counter()
            approx, _ = searcher._approx.scores(q)
            t3 = time.perf_counter()
            exact_ms.append((t2 - t) * 1e3)
            approx_ms.append((t3 - t2) * 1e3)
            want = set(np.argsort(-exact, kind="stable")[:10].tolist())
            recall.append(len(want & set(np.argsort(-approx, kind="stable")[:10].tolist())) / 10)
        print(f"  dense step          recall@10 {np.mean(recall):.4f}, {np.median(approx_ms):.2f} ms vs exact "
              f"{np.median(exact_ms):.2f} ms p50 ({len(recall)} {label})")
