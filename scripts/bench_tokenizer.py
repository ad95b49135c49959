"""Measure the query tokenizer of the bundled model: memory, load time and encode time, old and new.

Usage: python scripts/bench_tokenizer.py [embedder] [tokenizer] [--cache-dir DIR] [--queries N] [--kb-root DIR]

- embedder: RSS (VmRSS, /proc/self/status) of a fresh process before and after ``OnnxEmbedder`` loads (int8 and
  fp32), its load time, and after embedding N queries one by one: what a server process holds. ``--kb-root``
  runs it on another checkout's ``kb`` package (e.g. ``git archive HEAD~1 kb | tar -x -C /tmp/old``): the same
  script before and after a change.
- tokenizer: for each tokenizer, in a fresh process: RSS added by loading it, load time, and the p50 / p95 of
  encoding one query (``query: `` + a paraKQC dev query, or the sample queries without the benchmarks), N times,
  then of 32 passages (the sample articles) in one batch. ``tokenizers`` is the old path (``Tokenizer.from_file``
  on the export's tokenizer.json); ``kb`` the new one (``kb.model.tokenizer_json.load_tokenizer``: the derived
  tokenizer.kb-trie beside tokenizer.json); ``kb-cold`` converts tokenizer.json in memory, as the first load after
  an upgrade does before it writes that file.
Run on a quiet machine; each figure is one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path and "--child" not in sys.argv:  # a child takes kb from PYTHONPATH (--kb-root)
    sys.path.insert(0, str(ROOT))

BENCH = ROOT.parent / "shared" / "benchmarks" / "parakqc" / "queries_dev.jsonl"
SAMPLE = ROOT / "tests" / "data" / "sample_queries.jsonl"


def queries(n: int) -> list[str]:
    source = BENCH if BENCH.is_file() else SAMPLE
    rows = [json.loads(line)["query"] for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


# ----------------------------------------------------------------------------- run in a fresh process

def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def passages() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "articles").rglob("*.md"))]
    return ["passage: " + texts[i % len(texts)] for i in range(32)]


def child_embedder(folder: str, precision: str, n: int) -> dict[str, Any]:
    import time

    import numpy  # noqa: F401 - imported by the embedder anyway; kept out of the load figure
    import onnxruntime  # noqa: F401

    from kb.model.onnx import OnnxEmbedder

    texts = queries(n)
    before = rss_mib()
    start = time.perf_counter()
    emb = OnnxEmbedder(Path(folder), precision)
    load_s = time.perf_counter() - start
    loaded = rss_mib()
    for text in texts:
        emb.embed_queries([text])
    return {"precision": precision, "rss_before": before, "rss_loaded": loaded, "load_s": load_s,
            "rss_after_queries": rss_mib(), "tokenizer": type(emb._tokenizer).__name__,
            "tokenizers_imported": "tokenizers" in sys.modules}


def child_tokenizer(folder: str, kind: str, n: int) -> dict[str, Any]:
    import statistics
    import time

    import numpy as np

    texts = ["query: " + q for q in queries(n)]
    path = Path(folder) / "tokenizer.json"
    if kind == "tokenizers":
        import tokenizers  # noqa: F401 - library import kept out of the load figure

        def load() -> Any:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path))
            tok.enable_truncation(512)
            tok.enable_padding(pad_id=1, pad_token="<pad>")
            return tok

        def encode(tok: Any, batch: list[str]) -> Any:
            encodings = tok.encode_batch(batch) if len(batch) > 1 else [tok.encode(batch[0])]
            return (np.array([e.ids for e in encodings], dtype=np.int64),
                    np.array([e.attention_mask for e in encodings], dtype=np.int64))
    else:
        import marisa_trie  # noqa: F401

        import kb.model.tokenizer_json as kbtok

        def load() -> Any:
            if kind == "kb-cold":
                return kbtok.tokenizer_from_json(path, pad_id=1)
            return kbtok.load_tokenizer(path, 1)

        def encode(tok: Any, batch: list[str]) -> Any:
            return tok.encode(batch)

    before = rss_mib()
    start = time.perf_counter()
    tok = load()
    load_s = time.perf_counter() - start
    loaded = rss_mib()
    times = []
    for text in texts:
        t0 = time.perf_counter()
        encode(tok, [text])
        times.append((time.perf_counter() - t0) * 1e3)
    batch = passages()
    t0 = time.perf_counter()
    ids, _ = encode(tok, batch)
    batch_ms = (time.perf_counter() - t0) * 1e3
    return {"kind": kind, "rss_added": loaded - before, "load_s": load_s, "rss_after": rss_mib() - before,
            "p50_ms": statistics.median(times), "p95_ms": float(np.percentile(times, 95)),
            "batch32_ms": batch_ms, "batch_tokens": int(ids.size)}


def fresh(*args: str, kb_root: Path | None = None) -> dict[str, Any]:
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(kb_root or ROOT)}
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True,
                         text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="*", default=["embedder", "tokenizer"])
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--kb-root", type=Path, help="folder holding the kb package to measure (default: this one)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        role, folder, kind, n = args.child
        fn = child_embedder if role == "embedder" else child_tokenizer
        print(json.dumps(fn(folder, kind, int(n))))
        return

    from kb.model.export import bundled_onnx_path
    from kb.settings import Settings

    settings = Settings.from_env() if args.cache_dir is None else Settings.from_env({}, cache_dir=args.cache_dir)
    folder = str(bundled_onnx_path(settings.cache_dir))
    n = str(args.queries)
    if "embedder" in args.what:
        print(f"embedder in a fresh process ({args.queries} queries one by one):")
        for precision in ("int8", "fp32"):
            r = fresh("embedder", folder, precision, n, kb_root=args.kb_root)
            print(f"  {precision}: RSS {r['rss_before']:.0f} -> {r['rss_loaded']:.0f} MiB loaded "
                  f"(+{r['rss_loaded'] - r['rss_before']:.0f}) in {r['load_s']:.2f} s, {r['rss_after_queries']:.0f} "
                  f"MiB after the queries; tokenizer from {r['tokenizer']}, tokenizers imported: "
                  f"{r['tokenizers_imported']}")
    if "tokenizer" in args.what:
        print(f"tokenizer in a fresh process (one query at a time, {args.queries} queries; then 32 passages):")
        for kind in ("tokenizers", "kb-cold", "kb"):
            try:
                r = fresh("tokenizer", folder, kind, n)
            except subprocess.CalledProcessError as exc:
                print(f"  {kind}: failed ({exc.stderr.strip().splitlines()[-1] if exc.stderr else exc})")
                continue
            print(f"  {kind:>10}: +{r['rss_added']:.1f} MiB RSS loaded ({r['rss_after']:+.1f} after encoding), load "
                  f"{r['load_s']:.3f} s, one query p50 {r['p50_ms']:.3f} ms p95 {r['p95_ms']:.3f} ms, 32 passages "
                  f"({r['batch_tokens']} padded tokens) {r['batch32_ms']:.1f} ms")


if __name__ == "__main__":
    main()
