"""Speed benchmark: build time, incremental rebuild ratio, load/reload time, query latency in process and over
HTTP beside a naive baseline (sentence-transformers on torch + a FAISS flat search, same model, same queries),
server start-up and memory, throughput with 8 concurrent clients against the model's limit (scripts/bench_serving.py),
and large synthetic knowledge bases.

Usage: python scripts/bench.py [--skip-synthetic] [--skip-http] [--skip-naive] [--queries N]
                               [--synthetic-entries N [N ...]]

Prints one block per data set. Model load is timed separately and excluded from build figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.articles.parse import Article, load_articles  # noqa: E402
from kb.settings import Settings  # noqa: E402

PARAKQC = ROOT.parent / "shared" / "benchmarks" / "parakqc"


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, "
            f"Python {platform.python_version()}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def edit_one(article: Article) -> Article:
    from dataclasses import replace

    return replace(article, questions=(*article.questions, f"{article.title} (수정됨)"),
                   body=article.body + "\n\n(편집자 수정)")


def build_figures(name: str, articles: list[Article], embedder, config: list[Path]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from kb.index.build import build_index

    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        full = build_index(articles, embedder, tmp / "index", config_files=config)
        edited = list(articles)
        i = next(i for i, a in enumerate(edited) if a.published)
        edited[i] = edit_one(edited[i])
        inc = build_index(edited, embedder, tmp / "index", config_files=config)
        noop = build_index(edited, embedder, tmp / "index", config_files=config)
        print(f"  full build          {full.seconds:8.2f} s  ({full.entries} entries, "
              f"{full.entries / full.seconds:.0f} entries/s)")
        print(f"  one article edited  {inc.seconds:8.2f} s  (embedded {inc.embedded}, reused {inc.reused}; "
              f"ratio {inc.seconds / full.seconds:.3f} of a full build)")
        print(f"  nothing changed     {noop.seconds:8.2f} s")
        return {"full": full.seconds, "incremental": inc.seconds, "entries": full.entries,
                "index": str(tmp / "index"), "tmp": str(tmp)}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def timed(call: Callable[[str], object], inputs: list[str], unit: float) -> list[float]:
    """Wall time of ``call`` on each input, in seconds times ``unit`` (1e3: ms, 1e6: µs)."""
    times = []
    for text in inputs:
        t = time.perf_counter()
        call(text)
        times.append((time.perf_counter() - t) * unit)
    return times


def naive_baseline(index_dir: Path, queries: list[str], cache_dir: Path) -> float:
    """What kb should beat: encode the query with sentence-transformers on torch (one thread, as kb's queries)
    and search a FAISS flat index of the same vectors. Returns its p50 in ms."""
    import faiss
    import torch
    from sentence_transformers import SentenceTransformer

    from kb.index.store import load_index
    from kb.model.bundled import bundled_model_path

    torch.set_num_threads(1)
    model = SentenceTransformer(str(bundled_model_path(cache_dir)), device="cpu")
    index = load_index(index_dir)
    flat = faiss.IndexFlatIP(index.faiss_index.d)
    flat.add(index.faiss_index.reconstruct_n(0, index.faiss_index.ntotal))

    def naive(q: str) -> None:
        vec = model.encode(["query: " + q], normalize_embeddings=True, convert_to_numpy=True)
        flat.search(vec, 5)

    naive(queries[0])
    times = timed(naive, queries, 1e3)
    print(f"  naive baseline      p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  (sentence-transformers "
          "on torch, 1 thread, + FAISS flat top 5)")
    return pct(times, 50)


def latency_in_process(index_dir: Path, embedder, queries: list[str]) -> float:  # type: ignore[no-untyped-def]
    from kb.pipeline import open_build

    t = time.perf_counter()
    searcher = open_build(index_dir, embedder)  # what a server does at start and at every reload
    total = (time.perf_counter() - t) * 1000
    print(f"  load / reload       {searcher.index.load_ms:8.0f} ms  (files read and checked; {total:.0f} ms with "
          "the searcher's arrays; the build after one edit)")
    searcher.search(queries[0])  # warm up (loads Kiwi once per process)
    times = timed(lambda q: searcher.search(q, k=5), queries, 1e3)
    print(f"  query in process    p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  ({len(times)} distinct "
          "queries, none cached)")
    latency_suggest(searcher.index, queries)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  bench process peak  {peak:8.0f} MiB")
    return pct(times, 50)


def latency_suggest(index, queries: list[str]) -> None:  # type: ignore[no-untyped-def]
    """/suggest's work for what a customer types on the way to each query: prefixes and 초성."""
    from kb.search.suggest import Suggester
    from kb.text.hangul import choseong

    suggester = Suggester.from_index(index)
    typed = [q[:n] for q in queries for n in (1, 2, 3, 5)] + [choseong(q[:2]) for q in queries]
    typed = [t for t in typed if t.strip()]
    times = timed(lambda text: suggester.suggest(text, limit=8), typed, 1e6)
    print(f"  suggest in process  p50 {pct(times, 50):6.0f} µs  p95 {pct(times, 95):6.0f} µs  ({len(times)} inputs)")


class RandomPassages:
    """Random vectors for every entry of a build (passages and the question entries' query halves), with the
    neighbourhoods of real ones: a text's vector is the sum of seeded random vectors of its words plus noise, so
    questions sharing words lie near each other as e5 puts them. Times a very large knowledge base's queries, load
    and memory without embedding it (its ranking quality means nothing; the bench's queries go through the real
    model). Uniform random vectors have no neighbourhoods at all: no graph index finds their top 10 (HNSW recall@10
    0.4-0.7 at 100k, see docs/figures.md). Forwarding the query halves to the real model made 83% of a 100k
    build's 1,114 s (83k model runs), not Kiwi."""

    noise = 0.5  # per-text noise, relative to a word's vector

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self._words: dict[str, Any] = {}

    def _word(self, word: str) -> Any:
        import hashlib

        import numpy as np

        vec = self._words.get(word)
        if vec is None:
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
            vec = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            vec = self._words[word] = vec / np.linalg.norm(vec)
        return vec

    def embed_queries(self, texts: Any) -> Any:
        return self.embed_passages(texts, seed=len(texts) + 1)

    def embed_passages(self, texts: Any, progress: Any = None, seed: int | None = None) -> Any:
        import numpy as np

        rng = np.random.default_rng(len(texts) if seed is None else seed)
        vecs = rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        for i, text in enumerate(texts):
            words = text.split() or [text]
            vecs[i] *= self.noise * np.sqrt(len(words) / self.dimension)
            for word in words:
                vecs[i] += self._word(word)
        if progress is not None:
            progress(len(texts))
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def synthetic_articles(n_entries: int, seed: int = 7) -> list[Article]:
    """Many distinct Korean FAQ-like articles from combinatorial templates: a title, four alternate
    questions and the whole-article passage make 6 entries per article."""
    rng = random.Random(seed)
    things = ["운동화", "노트북", "원피스", "커피머신", "유모차", "텐트", "이어폰", "소파", "자전거", "가습기",
              "청바지", "냉장고", "카메라", "책상", "캐리어", "선풍기", "모니터", "패딩", "키보드", "화장품",
              "전기밥솥", "러닝화", "태블릿", "공기청정기", "매트리스"]
    acts = ["반품", "교환", "배송 조회", "주문 취소", "환불", "A/S 접수", "설치 예약", "사이즈 변경", "선물 포장",
            "재입고 알림"]
    whens = ["오늘", "주말에", "해외에서", "회원가입 없이", "쿠폰 쓰고", "부분적으로", "세일 기간에", "새벽배송으로",
             "무통장입금으로", "카드 할부로", "포인트로", "앱에서", "PC에서", "선물 받고", "대량으로"]
    whos = ["", "비회원 ", "기업 고객 ", "해외 고객 ", "학생 ", "임직원 "]  # who asks: up to 135,000 entries
    forms = ["{p}{w} {t} {a}는 어떻게 하나요?", "{p}{t} {a} {w} 가능해요?", "{p}{w} {t} {a}하려면 어떻게 해요",
             "{p}{t} {a} 문의 ({w})", "{p}{w} 산 {t} {a} 되나요"]
    combos = [(t, a, w, p) for t in things for a in acts for w in whens for p in whos]
    if -(-n_entries // 6) > len(combos):
        raise SystemExit(f"synthetic sets hold at most {6 * len(combos)} entries, asked {n_entries}")
    rng.shuffle(combos)
    out = []
    for i, (t, a, w, p) in enumerate(combos[: -(-n_entries // 6)]):
        qs = [f.format(t=t, a=a, w=w, p=p) for f in forms]
        out.append(Article(id=f"syn-{i:05d}", title=qs[0], category=a, tags=(t,), locale="ko",
                           questions=tuple(qs[1:]), status="published",
                           body=f"{p}{t} {a} 안내입니다. {w} 주문하신 경우 마이페이지에서 신청하세요.",
                           path="synthetic"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--queries", type=int, default=200, help="queries timed per data set")
    ap.add_argument("--synthetic-entries", type=int, nargs="*", default=[20000, 100000])
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--skip-naive", action="store_true", help="no sentence-transformers baseline (needs torch)")
    ap.add_argument("--only-synthetic", action="store_true", help="leave out the sample and paraKQC sets")
    ap.add_argument("--random-vectors", type=int, nargs="*", default=[],
                    help="synthetic sets of this many entries whose passages get random vectors (query timing only)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {machine()}")
    settings = Settings.from_env(articles_dir=ROOT / "articles")
    t = time.perf_counter()
    from kb.model.embed import load_embedder

    embedder = load_embedder(settings)
    print(f"model {embedder.model_id} ({type(embedder).__name__}, precision {settings.precision}): loaded in "
          f"{time.perf_counter() - t:.1f} s")

    sample_queries = [json.loads(line)["query"] for line in
                      (ROOT / "tests" / "data" / "sample_queries.jsonl").read_text(encoding="utf-8").splitlines()
                      if line.strip()]
    sets: list[tuple[str, list[Article], list[str], list[Path]]] = [
        ("sample knowledge base (articles/)", load_articles(ROOT / "articles"), sample_queries,
         [p for p in (ROOT / "articles" / "_synonyms.yml",) if p.is_file()]),
    ]
    if (PARAKQC / "faq.jsonl").is_file():
        from kb.articles.benchmarks import load_faq, load_queries

        pq = [q.query for q in load_queries(PARAKQC / "queries_dev.jsonl")]
        sets.append(("paraKQC FAQ (1,000 entries)", load_faq(PARAKQC / "faq.jsonl"), pq, []))
    if not args.skip_synthetic:
        for n in args.synthetic_entries:
            syn = synthetic_articles(n)
            sets.append((f"synthetic ({sum(len(a.entries()) for a in syn):,} entries)", syn,
                         [a.questions[0] for a in syn[:: max(1, len(syn) // 200)]], []))
    if args.only_synthetic:
        sets = []
    for n in args.random_vectors:
        syn = synthetic_articles(n)
        sets.append((f"synthetic, random passage vectors ({sum(len(a.entries()) for a in syn):,} entries)", syn,
                     [a.questions[0] for a in syn[:: max(1, len(syn) // 200)]], []))
    distinct = [json.loads(line)["query"] for line in (PARAKQC / "queries_dev.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()] if (PARAKQC / "queries_dev.jsonl").is_file() else []
    for name, articles, queries, config in sets:
        print(f"\n{name}")
        figures = build_figures(name, articles, RandomPassages(embedder) if "random" in name else embedder, config)
        rng = random.Random(1)
        chosen = rng.sample(queries, min(args.queries, len(queries)))
        try:
            index_dir = Path(str(figures["index"]))
            kb_p50 = latency_in_process(index_dir, embedder, chosen)
            if "random" in name:
                from bench_large import approximate_figures

                approximate_figures(index_dir, embedder, RandomPassages(embedder).embed_queries, chosen)
            http_p50 = None
            if not args.skip_http and not name.startswith("synthetic"):
                # the clients' queries: distinct, never asked before (no cache hits); 400 for 8 clients, 640 for 32
                fresh = [q for q in distinct if q not in set(chosen)][:1040] or chosen
                from bench_serving import serving_figures

                http_p50 = serving_figures(index_dir, embedder, chosen, fresh)
            if not args.skip_naive and not name.startswith("synthetic"):
                naive_p50 = naive_baseline(index_dir, chosen, settings.cache_dir)
                ratio = f"in process {kb_p50 / naive_p50:.2f}"
                if http_p50 is not None:
                    ratio += f", over HTTP {http_p50 / naive_p50:.2f}"
                print(f"  ratio to naive      {ratio} (kb p50 / naive p50; below 1 is faster)")
        finally:
            shutil.rmtree(str(figures["tmp"]), ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this process: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
