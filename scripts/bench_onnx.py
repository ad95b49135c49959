"""Benchmark the bundled model on ONNX Runtime (each KB_PRECISION) against sentence-transformers on torch.

Usage: python scripts/bench_onnx.py [latency] [build] [memory] [export] [quality] [size] [--cache-dir DIR]
                                     [--runtimes torch,fp32,int8,...] [--configs 2x2,2x1,1x2] [--ort-config K=V ...]

Runtimes: torch, or a precision of kb.settings.PRECISIONS (fp32, int8, fp32e16, fp32e8, int8e8, int8att).

- latency: one short Korean query at a time (paraKQC dev queries, ``query: `` prefix), p50/p95 in ms; then 8
  client threads at once: queries/s and p50/p95 per query. ``--configs TxC`` runs the ONNX runtimes with T
  intra-op threads and at most C concurrent runs (default: the embedder's own choice).
- build: embed_passages of 2,000 short texts (paraKQC questions and dev queries), texts/s.
- memory: RSS, PSS and anonymous memory (/proc/self/smaps_rollup) and peak RSS of a fresh process that loads
  the embedder and embeds 200 queries one by one. The file-backed part (the memory-mapped weights) depends on
  the page cache: with the file cached, the kernel maps up to 64 KB around each touched table row.
- size: bytes of each precision's graph and weights files.
- export: time and peak RSS of converting and exporting the bundled model into an empty temporary cache.
- quality: dense-only hit@1 on the first 1,500 dev queries of each shared benchmark (FAQ questions as
  passages), for each ONNX runtime given.
Set HF_HUB_OFFLINE=1. Each timing prints the CPU that other processes used meanwhile (--quiet-wait waits
for a quiet machine first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.settings import Settings  # noqa: E402

BENCH = ROOT.parent / "shared" / "benchmarks"
SETS = ("parakqc", "stackfaq", "banking77")


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def make_embedder(runtime: str, cache_dir: Path, config: tuple[int, int] | None = None) -> Any:
    """runtime: torch (sentence-transformers), or a precision of the ONNX export (ONNX Runtime)."""
    if runtime == "torch":
        from kb.model.embed import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder("multilingual-e5-small", cache_dir)
    from kb.model.export import bundled_onnx_path
    from kb.model.onnx import OnnxEmbedder

    threads, concurrency = config or (None, None)
    return OnnxEmbedder(bundled_onnx_path(cache_dir), runtime, threads=threads, concurrency=concurrency)


def pct(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def timed(fn: Callable[..., object], *args: Any) -> float:
    """Milliseconds that fn(*args) took."""
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


class Others:
    """CPU that other processes used while a measurement ran (this machine has 2 cores; others skew every figure)."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        t = os.times()
        return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system

    def cores(self) -> float:
        """Cores busy with other processes since construction, on average."""
        wall, busy, own = (b - a for a, b in zip(self.start, self._sample(), strict=True))
        return max(0.0, (busy - own) / wall) if wall > 0 else 0.0


QUIET_WAIT = [0.0]  # seconds, from --quiet-wait


def wait_quiet() -> None:
    """Wait (up to --quiet-wait seconds) until other processes use less than 0.2 cores over 3 seconds."""
    deadline = time.perf_counter() + QUIET_WAIT[0]
    while time.perf_counter() < deadline:
        probe = Others()
        time.sleep(3)
        if probe.cores() < 0.2:
            return
        time.sleep(7)


def load(others: Others) -> str:
    return f"others used {others.cores():.1f} cores"


def bench_latency(embedder: Any, label: str, queries: list[str]) -> None:
    for q in queries[:20]:  # warm-up
        embedder.embed_queries([q])
    wait_quiet()
    others = Others()
    single = [timed(embedder.embed_queries, [q]) for q in queries[:300]]
    per_query: list[float] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        mine = [timed(embedder.embed_queries, [q]) for q in queries[k * 50 : (k + 1) * 50]]
        with lock:
            per_query.extend(mine)

    clients = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    start = time.perf_counter()
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    wall = time.perf_counter() - start
    print(f"latency {label:14s} 1 client p50 {pct(single, 50):5.1f} p95 {pct(single, 95):5.1f} ms | "
          f"8 clients {len(per_query) / wall:4.0f} q/s, p50 {pct(per_query, 50):6.1f} p95 {pct(per_query, 95):6.1f} ms"
          f" | {load(others)}", flush=True)


def bench_build(embedder: Any, label: str, texts: list[str]) -> None:
    embedder.embed_passages(texts[:64])  # warm-up
    wait_quiet()
    others = Others()
    ms = timed(embedder.embed_passages, texts)
    print(f"build   {label:14s} {len(texts)} texts in {ms / 1000:5.1f} s: {len(texts) / ms * 1000:4.0f} texts/s"
          f" | {load(others)}", flush=True)


MEMORY_CODE = """
import sys, json
from pathlib import Path
from kb.model.embed import load_embedder
from kb.settings import Settings
e = load_embedder(Settings.from_env({{}}, cache_dir=Path({cache!r}), precision={precision!r}, model={model!r}))
for q in json.loads(sys.stdin.read()):
    e.embed_queries([q])
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
roll = dict(line.split(':', 1) for line in open('/proc/self/smaps_rollup').read().splitlines()[1:])
kb = lambda d, k: int(d[k].split()[0])
print(type(e).__name__, kb(status, 'VmRSS'), kb(status, 'VmHWM'), kb(roll, 'Pss'), kb(roll, 'Anonymous'),
      'torch' in sys.modules)
"""


def bench_memory(runtime: str, cache_dir: Path, queries: list[str]) -> None:
    if runtime == "torch":  # the converted folder's path is "another model" to load_embedder: sentence-transformers
        from kb.model.bundled import bundled_model_path

        model, precision = str(bundled_model_path(cache_dir)), "fp32"
    else:
        model, precision = "multilingual-e5-small", runtime
    code = MEMORY_CODE.format(cache=str(cache_dir), precision=precision, model=model)
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(queries[:200]), capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    rss, peak, pss, anon = (int(x) / 1024 for x in out[1:5])
    print(f"memory  {runtime:14s} {out[0]}: after 200 queries RSS {rss:.0f} MB, PSS {pss:.0f} MB, anonymous "
          f"{anon:.0f} MB; peak RSS {peak:.0f} MB, torch imported: {out[5]}", flush=True)


def bench_size(runtimes: list[str], cache_dir: Path) -> None:
    from kb.model.export import bundled_onnx_path
    from kb.model.onnx import MODEL_FILES

    folder = bundled_onnx_path(cache_dir)
    for runtime in runtimes:
        if runtime in MODEL_FILES:
            graph = folder / MODEL_FILES[runtime]
            weights = graph.with_name(graph.name + ".data")
            print(f"size    {runtime:14s} {(graph.stat().st_size + weights.stat().st_size) / 1e6:6.1f} MB "
                  f"({graph.name} + .data)", flush=True)


EXPORT_CODE = """
import time, resource
from pathlib import Path
from kb.model.bundled import bundled_model_path
from kb.model.export import bundled_onnx_path
t0 = time.perf_counter(); bundled_model_path(Path({cache!r})); t1 = time.perf_counter()
bundled_onnx_path(Path({cache!r})); t2 = time.perf_counter()
print(f"{{t1 - t0:.1f}} {{t2 - t1:.1f}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}}")
"""


def bench_export() -> None:
    wait_quiet()
    others = Others()
    with tempfile.TemporaryDirectory(prefix="kb-bench-export-") as cache:
        out = subprocess.run([sys.executable, "-c", EXPORT_CODE.format(cache=cache)], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split()
    print(f"export  conversion {out[0]} s, ONNX export (every precision + checks + sha256) {out[1]} s, "
          f"peak RSS {out[2]} MB | {load(others)}", flush=True)


def bench_quality(runtimes: list[str], cache_dir: Path) -> None:
    import numpy as np

    embedders = {p: make_embedder(p, cache_dir) for p in runtimes if p != "torch"}
    for name in SETS:
        faq = rows(BENCH / name / "faq.jsonl")
        dev = rows(BENCH / name / "queries_dev.jsonl")[:1500]
        ids = [r["id"] for r in faq]
        line = []
        for precision, embedder in embedders.items():
            passages = embedder.embed_passages([r["question"] for r in faq])
            queries = embedder.embed_queries([r["query"] for r in dev])
            best = np.argmax(queries @ passages.T, axis=1)
            hits = sum(ids[b] in r["relevant_ids"] for b, r in zip(best, dev, strict=True))
            line.append(f"{precision} {hits / len(dev):.4f}")
        print(f"quality {name:10s} dense hit@1 on {len(dev)} dev queries: {', '.join(line)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", default=["latency", "build", "memory"],
                        choices=["latency", "build", "memory", "export", "quality", "size"])
    parser.add_argument("--cache-dir", type=Path, default=None, help="kb cache (default: KB_CACHE_DIR or ~/.cache/kb)")
    parser.add_argument("--runtimes", default="torch,fp32,int8")
    parser.add_argument("--configs", default="", help="ONNX TxC configurations, e.g. 2x2,2x1,1x2")
    parser.add_argument("--ort-config", action="append", default=[], help="extra ONNX Runtime session config K=V")
    parser.add_argument("--quiet-wait", type=float, default=0.0, help="wait up to S seconds for a quiet machine")
    args = parser.parse_args(argv)
    QUIET_WAIT[0] = args.quiet_wait
    cache_dir = args.cache_dir or Settings.from_env().cache_dir
    runtimes = args.runtimes.split(",")
    configs: list[tuple[int, int] | None] = [
        (int(c.split("x")[0]), int(c.split("x")[1])) for c in args.configs.split(",") if c] or [None]
    if args.ort_config:
        import onnxruntime

        import kb.model.onnx as onnx_model

        onnxruntime.set_default_logger_severity(3)  # overriding a default entry logs a warning
        plain = onnx_model._session_options

        def with_extra(ort: Any, threads: int) -> Any:
            options = plain(ort, threads)
            for item in args.ort_config:
                key, value = item.split("=", 1)
                options.add_session_config_entry(key, value)
            return options

        onnx_model._session_options = with_extra

    queries = [r["query"] for r in rows(BENCH / "parakqc" / "queries_dev.jsonl")]
    texts = ([r["question"] for r in rows(BENCH / "parakqc" / "faq.jsonl")] + queries[1000:])[:2000]
    for runtime in runtimes:
        for config in configs if runtime != "torch" else [None]:
            if not {"latency", "build"} & set(args.what):
                break
            embedder = make_embedder(runtime, cache_dir, config)
            label = runtime if runtime == "torch" else f"{runtime} {embedder.threads}x{embedder.concurrency}"
            if "latency" in args.what:
                bench_latency(embedder, label, queries)
            if "build" in args.what:
                bench_build(embedder, label, texts)
            del embedder
    if "memory" in args.what:
        for runtime in runtimes:
            bench_memory(runtime, cache_dir, queries)
    if "export" in args.what:
        bench_export()
    if "size" in args.what:
        bench_size(runtimes, cache_dir)
    if "quality" in args.what:
        bench_quality(runtimes, cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
