"""Gap grouping (kb.feedback.gaps): its speed and memory on 10,000 logged queries, and the measurement behind its two
thresholds.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_gaps.py speed [--queries 10000] [--index DIR]
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_gaps.py thresholds [--index DIR]
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_gaps.py flood [--queries 2000] [--index DIR]

``speed`` logs N distinct queries (paraKQC dev queries from ../shared/benchmarks when present, with variants
to reach N; else synthetic) as unanswered searches of 1-3 clients each in a temporary SQLite store, then
times what ``kb gaps`` does: read the store, embed (the model), distances + clustering, suggestions for the
biggest groups; with peak memory (process high-water mark, reset before grouping on Linux).

``thresholds`` runs the production code (kb.feedback.gaps.group_gaps, with searches and vectors cached) on simulated
gap logs: 300 draws of 4 sample articles' held-out customer queries (tests/data/sample_queries.jsonl) and 3
of 8 topics no sample article covers (written below), and on three fixed 3-topic sets; it prints the adjusted
Rand index per distance threshold, and the on-topic measure of covered and uncovered groups.

``flood`` is the gap report at its cap under one client's flood: N real gap queries (1-3 clients each), 2,100
distinct junk reports from one client, and one real gap typed three ways by three customers; it times reading the
store and what ``/admin/gaps.json`` does (grouping, first with no vector cached, then again), and says where the
real gap ranks among the reported groups.
Both use the sample articles' index, built into a temporary folder unless --index names one.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.feedback.store import GapQuery  # noqa: E402
from kb.settings import Settings  # noqa: E402

PARAKQC = ROOT.parent / "shared" / "benchmarks" / "parakqc" / "queries_dev.jsonl"
SAMPLE_QUERIES = ROOT / "tests" / "data" / "sample_queries.jsonl"

# Topics no sample article covers, six ways a customer might type each (written for this measurement).
UNCOVERED = {
    "repair": ["산 지 한 달 됐는데 고장났어요 수리 되나요", "AS 신청 어디서 해요", "보증기간 얼마예요",
               "무상 수리 가능한가요", "제품 고장 수리 접수", "as 센터 어디 있어요"],
    "sell-here": ["입점하고 싶어요", "판매자 등록 어떻게 해요", "저희 브랜드 입점 문의", "셀러로 가입하려면",
                  "여기서 상품 팔고 싶은데 어떻게 해요", "입점 수수료 얼마예요"],
    "bulk": ["대량 구매 할인 되나요", "회사 단체 주문하려고요", "기업 구매 문의", "100개 이상 주문 가능한가요",
             "단체 선물 대량 주문", "법인 대량구매 견적 받고 싶어요"],
    "store": ["오프라인 매장 있어요?", "매장 위치 알려주세요", "직접 가서 볼 수 있는 곳 있나요",
              "매장 픽업 가능한가요", "가까운 지점 어디예요", "매장 몇 시에 열어요"],
    "jobs": ["채용 공고 어디서 봐요", "알바 구하나요", "한결마켓 입사 지원하고 싶어요",
             "물류센터 아르바이트 모집", "인턴 채용 있나요", "경력직 채용 하나요"],
    "price-drop": ["사자마자 가격 내렸어요 차액 돌려주나요", "최저가 보상제 있나요", "가격 인하되면 차액 환불",
                   "어제 산 게 오늘 더 싸요", "다른 쇼핑몰이 더 싼데 맞춰주나요",
                   "구매 후 할인되면 보상 받을 수 있어요"],
    "size": ["사이즈 표 어디서 봐요", "신발 치수 어떻게 골라요", "옷 사이즈 추천해 주세요",
             "평소 95 입는데 어떤 사이즈", "사이즈가 정사이즈인가요", "실측 사이즈 알고 싶어요"],
    "wrapping": ["선물 포장 되나요", "포장지 고를 수 있어요?", "쇼핑백 같이 넣어주나요",
                 "리본 포장 추가하고 싶어요", "선물용으로 예쁘게 포장해 주세요", "가격표 떼고 보내줄 수 있나요"],
}
# Fixed 3-topic sets (a label is the article a person would point to, or "new" for none):
# A was written first and looked at while exploring; B is tests/test_gaps.py's; C was written last, unseen.
CHECKS = {
    "A": {
        "new": ["판매자한테 연락하고 싶어요", "셀러 문의 어디서 해요", "판매자 전화번호",
                "판매자에게 직접 물어보고 싶은데요", "상품 판매자 연락처 알려주세요", "판매자랑 통화하는 방법"],
        "address-change": ["배송지 잘못 입력했어요", "주소 바꾸고 싶어요", "받는 주소 수정 가능한가요",
                           "이사가서 배송 주소 변경해야 돼요", "배송지 변경 어떻게 해요",
                           "주문한 거 주소 틀렸어요"],
        "cash-receipt": ["현금영수증 발급", "현영 신청하고 싶어요", "현금 영수증 어디서 떼요",
                         "소득공제 영수증 받고 싶어요", "현금영수증 번호 잘못 넣었어요",
                         "계좌이체 했는데 현금영수증 되나요"],
    },
    "C": {
        "coupon-use": ["쿠폰 어떻게 써요", "할인쿠폰 적용이 안 돼요", "쿠폰 등록하는 법",
                       "받은 쿠폰 어디서 써요", "결제할 때 쿠폰 넣는 곳", "쿠폰 코드 입력"],
        "new-giftcard": ["상품권으로 결제 되나요", "백화점 상품권 사용", "문화상품권 써도 돼요?",
                         "기프트카드 잔액 확인", "상품권 충전 방법", "모바일 상품권 등록"],
        "new-subscription": ["정기배송 신청하고 싶어요", "매달 자동으로 받을 수 있나요", "구독 서비스 있어요?",
                             "정기 구독 해지", "정기배송 주기 변경", "매주 배송 받는 방법"],
    },
}


def open_sample(index: Path | None) -> tuple[Any, Path]:
    """A searcher on the sample articles' index (built into a temporary folder when ``index`` is None)."""
    from kb.model.embed import load_embedder
    from kb.pipeline import gated_build, open_build

    settings = Settings.from_env(articles_dir=ROOT / "articles")
    embedder = load_embedder(settings)
    if index is None:
        index = Path(tempfile.mkdtemp(prefix="kb-bench-gaps-")) / "index"
        started = time.perf_counter()
        gated_build(Settings.from_env(articles_dir=ROOT / "articles", index_dir=index), embedder)
        print(f"built the sample index in {time.perf_counter() - started:.1f} s (not part of the figures)")
    return open_build(index, embedder), index


# --- speed -----------------------------------------------------------------------------------------


def logged_queries(n: int) -> list[str]:
    """``n`` distinct customer-like queries: paraKQC's, then variants of them, else synthetic ones."""
    base: list[str] = []
    if PARAKQC.is_file():
        base = [json.loads(line)["query"] for line in PARAKQC.read_text(encoding="utf-8").splitlines() if line]
    if not base:
        words = ["배송", "반품", "환불", "쿠폰", "포인트", "결제", "주문", "교환", "회원", "영수증", "상품", "주소"]
        base = [f"{a} {b} 어떻게 해요" for a in words for b in words if a != b]
    endings = ["", " 알려주세요", " 궁금해요", " 문의", " 어떻게 돼요", " 좀 봐주세요", " 급해요", " 왜요"]
    out = list(dict.fromkeys(base))
    for ending in endings[1:]:
        out.extend(f"{q}{ending}" for q in base)
    out = list(dict.fromkeys(out))
    random.Random(1).shuffle(out)
    return out[:n]


def _reset_peak() -> bool:
    """Reset the process's memory high-water mark (Linux: clear_refs 5), so the next read is this stage's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed(args: argparse.Namespace) -> None:
    import numpy as np

    from kb.feedback.gaps import VectorCache, _embed, cluster, distances, find_gaps
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FeedbackStore
    from kb.text.analysis import char_ngrams

    searcher, _ = open_sample(args.index)
    queries = logged_queries(args.queries)
    with tempfile.TemporaryDirectory(prefix="kb-bench-gaps-") as tmp:
        store = FeedbackStore(SQLiteEngine(Path(tmp) / "feedback.sqlite"))
        started = time.perf_counter()
        report(store, [(q, f"10.{i % 250}.{c}.{i % 7}") for i, q in enumerate(queries) for c in range(1 + i % 3)])
        print(f"logged {len(queries)} queries ({sum(1 + i % 3 for i in range(len(queries)))} reports) "
              f"in {time.perf_counter() - started:.1f} s (not part of the figures)")

        stages: dict[str, float] = {}
        t = time.perf_counter()
        gaps, clients = read_gaps(store, len(queries))
        stages["read the store"] = time.perf_counter() - t
        texts = [g.query for g in gaps]
        cache: VectorCache = VectorCache(size=len(texts) + 1)
        t = time.perf_counter()
        vectors = _embed(searcher, texts, cache)
        stages["embed (model)"] = time.perf_counter() - t
        before = _peak_mib()
        reset = _reset_peak()
        t = time.perf_counter()
        terms = searcher.analyzer.terms_many(texts)
        grams = [char_ngrams(x) for x in texts]
        stages["analyse (Kiwi, n-grams)"] = time.perf_counter() - t
        t = time.perf_counter()
        from kb.feedback.gaps import centre_of

        condensed = distances(vectors, terms, grams, centre_of(searcher))
        stages["distances"] = time.perf_counter() - t
        t = time.perf_counter()
        labels = cluster(condensed, len(texts))
        stages["cluster (complete linkage)"] = time.perf_counter() - t
        del condensed
        group_peak = _peak_mib()
        t = time.perf_counter()
        groups = find_gaps(store, searcher, days=30, limit=30, max_queries=len(queries), cache=cache)
        stages["kb gaps end to end, vectors cached"] = time.perf_counter() - t
        store.close()
    sizes = np.bincount(labels)
    print(f"{len(texts)} gap queries -> {len(sizes)} groups (largest {sizes.max()}, "
          f"{int((sizes == 1).sum())} single queries); {len(groups)} reported with suggestions, "
          f"{len(clients)} client sets")
    for name, seconds in stages.items():
        print(f"  {name:<38} {seconds:8.2f} s")
    print(f"peak memory: {group_peak:.0f} MiB during analysis, distances and clustering "
          f"({'reset before them' if reset else 'process peak'}; {before:.0f} MiB before, model and index loaded)")


def report(store: Any, rows: Sequence[tuple[str, str]]) -> None:
    """Log (query, client address) as unanswered searches of today, in one transaction."""
    from kb.feedback.engine import now

    created, day = now()
    sql = store.engine.sql("INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, 'none') "
                           "ON CONFLICT DO NOTHING")

    def work(db: Any) -> None:
        for query, address in rows:
            db.execute(sql, (created, day, store.engine.client(db, address), query))

    store.engine.run(work)


def read_gaps(store: Any, limit: int) -> tuple[Any, Any]:
    """The gap queries and their clients as ``find_gaps`` reads them (one statement since issue 17)."""
    if hasattr(store, "gap_report"):
        report = store.gap_report(30, limit=limit)
        return report.queries, report.clients
    from kb.feedback.gaps import gap_clients  # type: ignore[attr-defined]  # before issue 17

    return store.gap_queries(30, limit=limit), gap_clients(store, 30)


REAL_GAP = ("선물 포장 되나요", "선물용으로 포장해 주실 수 있나요", "포장지 골라서 선물 포장 가능한가요")


def flood(args: argparse.Namespace) -> None:
    from kb.feedback.gaps import VectorCache, find_gaps
    from kb.feedback.sqlite import SQLiteEngine
    from kb.feedback.store import FeedbackStore

    searcher, _ = open_sample(args.index)
    queries = [q for q in logged_queries(args.queries + 200) if "포장" not in q][: args.queries]
    junk = [f"zz{random.Random(i).getrandbits(40):010x} cheap pills" for i in range(2100)]
    with tempfile.TemporaryDirectory(prefix="kb-bench-gaps-") as tmp:
        store = FeedbackStore(SQLiteEngine(Path(tmp) / "feedback.sqlite"))
        report(store, [(q, f"10.{i % 250}.{c}.{i % 7}") for i, q in enumerate(queries) for c in range(1 + i % 3)])
        report(store, [(q, "198.51.100.66") for q in junk])
        report(store, [(q, f"203.0.113.{n}") for n, q in enumerate(REAL_GAP)])
        print(f"{len(queries)} real gap queries, {len(junk)} junk reports from one client, the real gap typed by "
              f"{len(REAL_GAP)} customers")
        t = time.perf_counter()
        gaps, clients = read_gaps(store, 2000)
        read = time.perf_counter() - t
        kept = sum(1 for g in gaps if g.query in junk)
        print(f"  read the store (gap queries + client sets) {read:8.2f} s: {len(gaps)} queries, {kept} of them junk, "
              f"{sum(1 for g in gaps if g.query in REAL_GAP)} of the real gap's {len(REAL_GAP)}, {len(clients)} sets")
        cache: VectorCache = VectorCache()
        memo: dict[tuple[str, ...], Any] = {}  # vectors and suggestions kept between calls, as the service does
        for label in ("first call, nothing cached", "again, as cached"):
            t = time.perf_counter()
            groups = find_gaps(store, searcher, days=30, limit=20, cache=cache, memo=memo)
            took = time.perf_counter() - t
            rank = next((i + 1 for i, g in enumerate(groups) if set(g.examples) & set(REAL_GAP)), None)
            print(f"  /admin/gaps.json's grouping, {label:<28} {took:8.2f} s; the real gap: "
                  + (f"group {rank} of {len(groups)}, {groups[rank - 1].count} customers" if rank else "not shown"))
        store.close()


# --- thresholds ------------------------------------------------------------------------------------


class CachedSearcher:
    """The searcher with each query's vector, terms and search response computed once (the measurement
    calls the production code thousands of times on the same queries)."""

    def __init__(self, searcher: Any, texts: Sequence[str]) -> None:
        texts = list(dict.fromkeys(texts))
        self._s = searcher
        self.index = searcher.index
        self.queries = searcher.queries
        self._vec = dict(zip(texts, searcher.embed_queries(texts), strict=True))
        self._terms = dict(zip(texts, searcher.analyzer.terms_many(texts), strict=True))
        self._resp = dict(zip(texts, searcher.search_many(texts, k=1), strict=True))
        outer = self

        class _Analyzer:
            def terms_many(self, xs: Sequence[str]) -> list[list[str]]:
                return [outer._terms[x] for x in xs]

        self.analyzer = _Analyzer()

    def embed_queries(self, texts: Sequence[str]) -> Any:
        import numpy as np

        return np.vstack([self._vec[t] for t in texts])

    def search_many(self, texts: Sequence[str], k: int = 1) -> list[Any]:
        return [self._resp[t] for t in texts]


def _labels(groups: Sequence[Any], queries: Sequence[str]) -> list[int]:
    where = {}
    for i, g in enumerate(groups):
        for q in g.examples:
            where[q] = i
    return [where.get(q, -1) for q in queries]


def thresholds(args: argparse.Namespace) -> None:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score, homogeneity_score

    import kb.feedback.gaps
    from kb.feedback.gaps import CLOSE_ON_TOPIC, group_gaps, suggest

    kb.feedback.gaps.MAX_EXAMPLES = 10**6  # every query of a group listed, to score the grouping
    searcher, _ = open_sample(args.index)
    by_article: dict[str, list[str]] = {}
    for line in SAMPLE_QUERIES.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["lang"] == "ko":
            by_article.setdefault(row["relevant_ids"][0], []).append(row["query"])
    covered = {a: qs for a, qs in by_article.items() if len(qs) >= 2}
    checks = dict(CHECKS)
    try:
        from tests.test_gaps import TOPICS

        checks["B"] = {("new" if k == "new_article" else k): v for k, v in TOPICS.items()}
    except ImportError:
        pass
    every = [q for qs in [*by_article.values(), *UNCOVERED.values()] for q in qs]
    every += [q for topics in checks.values() for qs in topics.values() for q in qs]
    cached = CachedSearcher(searcher, every)

    rng = random.Random(7)
    draws = []
    for _ in range(300):
        arts, news = rng.sample(sorted(covered), 4), rng.sample(sorted(UNCOVERED), 3)
        topics = {**{a: covered[a] for a in arts}, **{t: UNCOVERED[t] for t in news}}
        draws.append(topics)

    dense = {**by_article, **UNCOVERED}  # every topic at once: a month's log of a busy help center
    memo: dict[tuple[str, ...], Any] = {}

    def run(topics: dict[str, list[str]], t: float, t2: float) -> tuple[float, float, int]:
        queries = [q for qs in topics.values() for q in qs]
        truth = [name for name, qs in topics.items() for _ in qs]
        gaps = [GapQuery(q, 1, ("unanswered",), None) for q in queries]
        groups = group_gaps(gaps, cached, limit=len(gaps), memo=memo, threshold=t,  # type: ignore[arg-type]
                            new_threshold=t2)
        labels = _labels(groups, queries)
        return adjusted_rand_score(truth, labels), homogeneity_score(truth, labels), len(groups)

    print("thresholds (all queries, then the queries no article gathers): adjusted Rand index (purity) over 300\n"
          f"simulated logs; all {len(dense)} topics at once; fixed 3-topic sets: ARI/groups")
    low, high, step = (float(x) for x in args.grid.split(":"))
    for t in np.arange(low, high + step / 2, step):
        for t2 in (float(x) for x in args.new_grid.split(",")):
            if t2 < t:
                continue
            scores = np.array([run(d, float(t), t2)[:2] for d in draws])
            a, h, k = run(dense, float(t), t2)
            fixed = "  ".join(f"{name} {a:.2f}/{k}" for name, topics in checks.items()
                              for a, _, k in [run(topics, float(t), t2)])
            print(f"  {t:.2f} {t2:.2f}: {scores[:, 0].mean():.3f} ({scores[:, 1].mean():.3f})   all {a:.3f} ({h:.3f}, "
                  f"{k} groups)   {fixed}", flush=True)

    print(f"\nsuggestion: mean on-topic probability of a topic's first queries (close at >= {CLOSE_ON_TOPIC})")
    rows: list[tuple[str, str, float, str | None]] = []
    for article, qs in covered.items():
        s = suggest(cached, qs)  # type: ignore[arg-type]
        rows.append(("covered", article, s.on_topic, s.article_id))
        hard = [q for q in qs if cached._resp[q].decision != "answer"]
        if hard:
            s = suggest(cached, hard)  # type: ignore[arg-type]
            rows.append(("hard", article, s.on_topic, s.article_id))
    for topic, qs in UNCOVERED.items():
        s = suggest(cached, qs)  # type: ignore[arg-type]
        rows.append(("uncovered", topic, s.on_topic, s.article_id))
    for kind in ("covered", "hard", "uncovered"):
        mine = [r for r in rows if r[0] == kind]
        values = sorted(r[2] for r in mine)
        close = sum(1 for r in mine if r[3] is not None)
        right = sum(1 for r in mine if r[3] == r[1])
        print(f"  {kind:<9} n={len(mine):3d} min {values[0]:.2f}  median {values[len(values) // 2]:.2f}  "
              f"max {values[-1]:.2f}  suggested an article: {close}, the right one: {right}")
    top_uncovered = max((r for r in rows if r[0] == "uncovered"), key=lambda r: r[2])
    print(f"  highest uncovered topic: {top_uncovered[1]} {top_uncovered[2]:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", nargs="?", choices=["speed", "thresholds", "flood"], default="speed")
    p.add_argument("--queries", type=int, default=10000, help="logged queries to group (speed)")
    p.add_argument("--index", type=Path, help="an index of the sample articles (default: build one)")
    p.add_argument("--grid", default="0.75:0.95:0.05", help="thresholds to try, low:high:step (thresholds)")
    p.add_argument("--new-grid", default="0.85,0.9,0.92,0.95", help="second thresholds to try, a,b,... (thresholds)")
    args = p.parse_args(argv)
    {"speed": speed, "thresholds": thresholds, "flood": flood}[args.mode](args)


if __name__ == "__main__":
    main()
