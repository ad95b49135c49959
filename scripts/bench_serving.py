"""The serving figures of ``scripts/bench.py`` (issue 18): kb beside the bare model, in process and over HTTP, and a
real ``kb serve``'s throughput, memory and start-up.

- bare model: the tokenizer and one ONNX Runtime run on one thread (what one query cannot go below);
- kb in process (``Searcher.search``) and over HTTP (``GET /search`` on ``kb serve``), each timed alternately with
  the bare model on the same queries, so that a machine whose load drifts during the run slows both alike;
- the model limit: cores x 1000 / bare p50 (every core busy on the model, nothing else); 8 clients with distinct
  queries are shown as a fraction of it;
- memory: PSS and RSS summed over every process of the server (``/proc/PID/smaps_rollup``) after 32 concurrent
  clients; RSS counts the pages the workers share (the memory-mapped model) once per process, PSS splits them;
- start-up: from launching ``kb serve`` to its first healthy ``/health``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_model(embedder: Any) -> Any:
    """The same model file on one thread, one run at a time (tokenizer included): kb's floor for one query."""
    from kb.model.onnx import OnnxEmbedder

    bare = OnnxEmbedder(embedder._path.parent, embedder.precision, threads=1, concurrency=1)
    bare.embed_queries(["배송 조회"])
    return bare


def paired(first: Any, second: Any, queries: list[str]) -> tuple[list[float], list[float]]:
    """ms of ``first(q)`` and ``second(q)``, called one after the other on each query."""
    a, b = [], []
    for q in queries:
        t = time.perf_counter()
        first(q)
        a.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        second(q)
        b.append((time.perf_counter() - t) * 1000)
    return a, b


def timed_bare(bare: Any, queries: list[str]) -> list[float]:
    out = []
    for q in queries:
        t = time.perf_counter()
        bare.embed_queries([q])
        out.append((time.perf_counter() - t) * 1000)
    return out


def bare_throughput(embedder: Any, queries: list[str]) -> float:
    """Queries/s of the bare model with one single-threaded run per core at once (no server, no HTTP)."""
    from concurrent.futures import ThreadPoolExecutor

    from kb.model.onnx import OnnxEmbedder

    bare = OnnxEmbedder(embedder._path.parent, embedder.precision, threads=1, concurrency=cores())
    bare.embed_queries(["배송 조회"])
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cores()) as pool:
        list(pool.map(lambda q: bare.embed_queries([q]), queries))
    return len(queries) / (time.perf_counter() - started)


def server_pids(root: int) -> list[int]:
    """``root`` and its descendants (uvicorn's workers are children of the supervisor)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def memory(pids: list[int]) -> tuple[float, float]:
    """PSS and RSS in MiB summed over ``pids``."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            continue
    return pss / 1024, rss / 1024


def start_server(index_dir: Path, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str,
                                                                                  float]:
    """``kb serve`` on a free port with its defaults (the bench is one client: its per-client limits lifted);
    the process, its base URL and the seconds to the first healthy ``/health``."""
    import httpx

    port = free_port()
    env = dict(os.environ, KB_INDEX_DIR=str(index_dir), KB_PORT=str(port), HF_HUB_OFFLINE="1",
               KB_RATE_SEARCH="100000/second", KB_RATE_SUGGEST="100000/second", **(env_extra or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--log-level", "warning"], env=env,
                            cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "server died")
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
    return proc, base, time.perf_counter() - t0


def throughput(base: str, queries: list[str], clients: int) -> tuple[float, float, float, int]:
    """Each query once, spread over ``clients`` concurrent clients; requests/s, p50, p95 (ms), errors."""
    import httpx

    todo = list(queries)
    lock = threading.Lock()
    times: list[float] = []
    errors = [0]

    def client() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while True:
                with lock:
                    if not todo:
                        return
                    q = todo.pop()
                t = time.perf_counter()
                try:
                    ok = http.get("/search", params={"q": q, "k": 5}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    times.append((time.perf_counter() - t) * 1000)
                    errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(times) / (time.perf_counter() - started), pct(times, 50), pct(times, 95), errors[0]


def serving_figures(index_dir: Path, embedder: Any, queries: list[str], fresh: list[str]) -> float | None:
    """The issue-18 block: bare model, kb in process and over HTTP, 8 clients against the model limit, memory
    after 32 clients, start-up. ``queries`` are timed one at a time; ``fresh`` (distinct, never asked before)
    feed the concurrent clients. Returns kb's HTTP p50 (ms), or None without the bundled ONNX model."""
    import httpx

    from kb.pipeline import open_build

    if not hasattr(embedder, "_path"):
        print("  (serving figures need the bundled model on ONNX Runtime)")
        return None
    n = len(queries) // 2  # in process on one half, over HTTP on the other: none cached by the server
    bare = bare_model(embedder)
    searcher = open_build(index_dir, embedder)
    searcher.search(queries[0])
    model_a, kb_proc = paired(lambda q: bare.embed_queries([q]), lambda q: searcher.search(q, k=5), queries[:n])
    proc, base, startup = start_server(index_dir)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            http.get("/search", params={"q": queries[0]})

            def get(q: str) -> None:
                http.get("/search", params={"q": q, "k": 5}).raise_for_status()

            model_b, kb_http = paired(lambda q: bare.embed_queries([q]), get, queries[n:])
        pids = server_pids(proc.pid)
        server_cpu, own_cpu = cpu_seconds(pids), time.process_time()
        rate, p50, p95, errors = throughput(base, fresh[:400], clients=8)
        server_cpu, own_cpu = cpu_seconds(pids) - server_cpu, time.process_time() - own_cpu
        burst = throughput(base, fresh[400:1040] or fresh[:640], clients=32)
        time.sleep(0.5)
        pids = server_pids(proc.pid)
        pss, rss = memory(pids)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    bare_p50 = pct(model_a + model_b, 50)
    # the limit of the clients' own queries (paraKQC's are longer than the sample's): the bare model on 200 of them
    fresh_p50 = pct(timed_bare(bare, fresh[:200]), 50)
    bare_rate = bare_throughput(embedder, fresh[:400])
    # the median of each query's own ratio: a query and its bare model run are timed a moment apart, under the same load
    ratio_proc = pct([k / m for k, m in zip(kb_proc, model_a, strict=True)], 50)
    ratio_http = pct([k / m for k, m in zip(kb_http, model_b, strict=True)], 50)
    limit = cores() * 1000 / fresh_p50
    print(f"  bare model          p50 {bare_p50:6.1f} ms  (tokenizer + ONNX Runtime, 1 thread, {embedder.precision}; "
          f"{pct(model_a, 50):.1f} beside kb in process, {pct(model_b, 50):.1f} beside HTTP)")
    print(f"  kb in process       p50 {pct(kb_proc, 50):6.1f} ms  {ratio_proc:.2f}x the bare model "
          f"(median ratio per query, alternating with it, {n} queries)")
    print(f"  kb over HTTP        p50 {pct(kb_http, 50):6.1f} ms  {ratio_http:.2f}x the bare model "
          f"(median ratio per query, alternating with it, {len(queries) - n} queries; p95 {pct(kb_http, 95):.1f} ms)")
    print(f"  8 clients           {rate:6.1f} requests/s = {rate / limit:.0%} of the model limit "
          f"({cores()} cores x 1000 / {fresh_p50:.1f} ms, the bare p50 of "
          f"these queries, = {limit:.0f}/s); p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
          f"{errors} errors")
    served = len(fresh[:400])
    print(f"  CPU per search      server {server_cpu / served * 1000:.1f} ms (the bare model {fresh_p50:.1f}), the "
          f"8 clients themselves {own_cpu / served * 1000:.1f} ms, on the same {cores()} cores: with every core "
          f"its own, the server would answer {cores() * served / server_cpu:.0f}/s = "
          f"{fresh_p50 * served / server_cpu / 1000:.0%} of the model limit")
    print(f"  bare model at once  {bare_rate:6.1f} queries/s = {bare_rate / limit:.0%} of the model limit ({cores()} "
          "single-threaded runs at a time, no server: what this machine gives the model alone now)")
    print(f"  32 clients          {burst[0]:6.1f} requests/s, p95 {burst[2]:.0f} ms, {burst[3]} errors; then the "
          f"server's {len(pids)} process(es): PSS {pss:.0f} MiB, RSS {rss:.0f} MiB")
    print(f"  start-up            {startup:6.2f} s to the first healthy /health")
    return pct(kb_http, 50)


def main() -> int:
    """This block alone, on a build made before: ``python scripts/bench_serving.py --index /tmp/idx``."""
    import argparse
    import json
    import random

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", type=Path, required=True, help="an index folder made by `kb build --index`")
    ap.add_argument("--queries", type=int, default=200, help="queries timed one at a time")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from kb.model.embed import load_embedder
    from kb.settings import Settings

    def read(path: Path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return list(dict.fromkeys(json.loads(line)["query"] for line in lines if line.strip()))

    sample = read(ROOT / "tests" / "data" / "sample_queries.jsonl")
    chosen = random.Random(1).sample(sample, min(args.queries, len(sample)))
    fresh = [q for q in read(ROOT.parent / "shared" / "benchmarks" / "parakqc" / "queries_dev.jsonl")
             if q not in set(chosen)][:1040] or chosen
    serving_figures(args.index, load_embedder(Settings.from_env(index_dir=args.index)), chosen, fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
