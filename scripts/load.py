"""Bounded concurrent load against kb: searches, as-you-type suggestions and votes from C clients for N seconds,
optionally rebuilding the index twice in the middle so the server reloads under load.

Usage:
    .venv/bin/python scripts/load.py                        # builds articles/ into a temporary index, starts
                                                            # `kb serve` on a free port of 127.0.0.1, loads it
    .venv/bin/python scripts/load.py --seconds 60 --clients 16 --rebuild-twice
    .venv/bin/python scripts/load.py http://127.0.0.1:8000  # a kb that is already running (its limits apply)
    .venv/bin/python scripts/load.py http://127.0.0.1:8000 --rebuild-twice --articles DIR --index DIR
    .venv/bin/python scripts/load.py --abuse --clients 8    # customers alone, then beside a long-query abuser

Searches use distinct queries (the paraKQC dev queries beside this repository when present, else a built-in
Korean list); suggestions type a query one syllable at a time; votes go to articles the searches found.
Prints requests/s, p50/p95/p99 latency per kind, 429s (rate limited: expected when a kb's limits apply) apart
from failures (any other non-2xx answer, or a transport error).

The server this script starts gets generous rate limits (a load test from one address would otherwise measure
the limiter); with --real-limits it keeps kb's defaults, trusts 127.0.0.1 as a proxy and gives every simulated
client its own X-Forwarded-For address, so each has its own budget as real customers would. Only 127.0.0.1 is
ever contacted unless a URL is given; the run stops by itself after --seconds (or --max-requests).

--abuse (issue 17) runs twice for --seconds on one server with kb's limits: the customers (--think 0.5 s unless given)
alone, then beside a client sending maximal queries (MAX_QUERY_CHARS of Hangul without spaces, each new) on four
connections as its 429s' Retry-After allow; it prints the customers' search p50/p95 and the ratio (target: <= 2x).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kb.limits import MAX_QUERY_CHARS

ROOT = Path(__file__).resolve().parent.parent
PARAKQC_QUERIES = ROOT.parent / "shared" / "benchmarks" / "parakqc" / "queries_dev.jsonl"
KINDS = ("search", "suggest", "vote")
GENEROUS = "1000000/second"
FALLBACK_QUERIES = [
    "택배 언제 와요", "배송 조회는 어디서 해요", "반품하고 싶어요", "교환 신청 방법", "환불 언제 들어와요",
    "비번 까먹었어요", "아이디 찾기", "회원 탈퇴하고 싶어요", "쿠폰 어디서 받아요", "적립금 사용 방법",
    "현금영수증 발급", "주문 취소하고 싶어요", "배송지 변경할 수 있나요", "결제 수단 바꾸고 싶어요",
    "포인트 소멸 기간", "상품이 파손돼서 왔어요", "영수증 다시 받고 싶어요", "고객센터 전화번호",
    "해외 배송 되나요", "무통장 입금 확인이 안 돼요", "카드 할부 되나요", "주문 내역이 안 보여요",
    "배송비 얼마예요", "반품 배송비 누가 내요", "교환하면 언제 와요", "상담원 연결", "영업시간이 어떻게 돼요",
]


@dataclass
class Tally:
    """What one kind of request got: latencies of the 2xx answers, 429s, and failures by reason."""

    latencies: list[float] = field(default_factory=list)
    limited: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies) + self.limited + sum(self.failures.values())


class Load:
    """The shared state of one run: the query supply, the tallies, the article ids found so far."""

    def __init__(self, base: str, queries: Sequence[str], seconds: float, max_requests: int, forwarded: bool) -> None:
        self.base = base
        self.queries = list(queries)
        self.deadline = time.monotonic() + seconds
        self.max_requests = max_requests
        self.forwarded = forwarded
        self.lock = threading.Lock()
        self.next_query = itertools.count()
        self.sent = 0
        self.tallies = {kind: Tally() for kind in KINDS}
        self.article_ids: list[str] = []

    def query(self) -> str:
        """The next query: each one once, in a shuffled order, before any is repeated."""
        return self.queries[next(self.next_query) % len(self.queries)]

    def running(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < self.max_requests

    def record(self, kind: str, started: float, response: httpx.Response | None, error: str | None) -> None:
        elapsed = time.perf_counter() - started
        with self.lock:
            self.sent += 1
            tally = self.tallies[kind]
            if response is not None and 200 <= response.status_code < 300:
                tally.latencies.append(elapsed)
            elif response is not None and response.status_code == 429:
                tally.limited += 1
            else:
                reason = error or f"HTTP {response.status_code if response is not None else '?'}"
                tally.failures[reason] = tally.failures.get(reason, 0) + 1


def client_loop(load: Load, slot: int, seed: int, think: float) -> None:
    """One simulated customer: mostly searching and typing, now and then voting on what it found."""
    rng = random.Random(seed * 1000 + slot)
    # TEST-NET-2 addresses: only ever a header value here, to tell the clients apart behind a trusted proxy
    headers = {"X-Forwarded-For": f"198.51.{100 + slot // 250}.{slot % 250 + 1}"} if load.forwarded else {}
    with httpx.Client(base_url=load.base, timeout=30, headers=headers) as client:
        while load.running():
            roll = rng.random()
            if roll < 0.45:
                q = load.query()
                started = time.perf_counter()
                response, error = _call(client, "GET", "/search", params={"q": q, "k": 5})
                load.record("search", started, response, error)
                if response is not None and response.status_code == 200:
                    found = [r["article_id"] for r in response.json().get("results", [])[:2]]
                    with load.lock:
                        load.article_ids.extend(found)
                        del load.article_ids[:-500]  # a recent sample is enough
            elif roll < 0.9:
                q = load.query().replace(" ", "")
                for n in range(1, min(len(q), 6) + 1):  # typing, one syllable at a time
                    if not load.running():
                        break
                    started = time.perf_counter()
                    response, error = _call(client, "GET", "/suggest", params={"q": q[:n]})
                    load.record("suggest", started, response, error)
            else:
                with load.lock:
                    article_id = rng.choice(load.article_ids) if load.article_ids else None
                if article_id is None:
                    continue
                body = {"query": load.query(), "article_id": article_id, "helpful": rng.random() < 0.7}
                started = time.perf_counter()
                response, error = _call(client, "POST", "/feedback", json=body)
                load.record("vote", started, response, error)
            if think:
                time.sleep(rng.uniform(0, 2 * think))


def abuser_loop(load: Load, seed: int) -> None:
    """One client (one address) sending maximal queries, each new, as fast as its limits let it."""
    rng = random.Random(seed)
    headers = {"X-Forwarded-For": "203.0.113.7"} if load.forwarded else {}  # TEST-NET-3: not a customer's
    with httpx.Client(base_url=load.base, timeout=30, headers=headers) as client:
        while load.running():
            q = "".join(rng.choice(load.queries) for _ in range(40)).replace(" ", "")[:MAX_QUERY_CHARS]
            started = time.perf_counter()
            response, error = _call(client, "GET", "/search", params={"q": q, "k": 5})
            load.record("abuse", started, response, error)
            if response is not None and response.status_code == 429:
                time.sleep(min(float(response.headers.get("retry-after", "1")), 5.0))


def _call(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[httpx.Response | None, str | None]:
    try:
        return client.request(method, path, **kwargs), None  # type: ignore[arg-type]
    except httpx.HTTPError as e:
        return None, type(e).__name__


# --- the server, and its rebuilds --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kb_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kb", *args]


def build(articles: Path, index: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(kb_command("build", "--articles", str(articles), "--index", str(index), "--quiet"), cwd=ROOT,
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


@contextmanager
def started_server(articles: Path, index: Path, real_limits: bool, log: Path) -> Iterator[str]:
    """``kb serve`` on a free port of 127.0.0.1, on ``index``; yields its URL and stops it afterwards."""
    port = free_port()
    env = {**os.environ, "KB_INDEX_DIR": str(index), "KB_ARTICLES_DIR": str(articles), "KB_PORT": str(port),
           "KB_HOST": "127.0.0.1"}
    if real_limits:
        env["KB_TRUSTED_PROXIES"] = "127.0.0.1"
    else:
        env.update(KB_RATE_SEARCH=GENEROUS, KB_RATE_SUGGEST=GENEROUS, KB_RATE_REPORTS=GENEROUS)
    with log.open("w") as out:
        proc = subprocess.Popen(kb_command("serve", "--log-level", "warning"), cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"load: kb serve exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("load: kb serve did not answer /health within 300 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def edit_an_article(articles: Path, round_: int) -> Path:
    """Add a question to one article (a change a rebuild must embed and the server must pick up)."""
    target = sorted(p for p in articles.rglob("*.md") if not any(part.startswith(("_", ".")) for part in
                                                                 p.relative_to(articles).parts))[0]
    text = target.read_text(encoding="utf-8")
    marker = f"부하 시험 중 추가된 질문 {round_}"
    if "questions:" in text.split("---", 2)[1]:
        text = text.replace("questions:\n", f"questions:\n  - {marker}\n", 1)
    else:
        text = text.replace("\n---", f"\nquestions: ['{marker}']\n---", 1)
    target.write_text(text, encoding="utf-8")
    return target


def rebuild_twice(load: Load, articles: Path, index: Path, seconds: float, report: list[str]) -> None:
    """At a third and two thirds of the run: edit an article, `kb build`, wait for the server to switch."""
    env = {**os.environ}
    start = time.monotonic()
    for round_, at in enumerate((seconds / 3, 2 * seconds / 3), start=1):
        time.sleep(max(0.0, start + at - time.monotonic()))
        before = httpx.get(f"{load.base}/health", timeout=10).json().get("build")
        edited = edit_an_article(articles, round_)
        took = build(articles, index, env)
        built = time.monotonic()
        switched = None
        while time.monotonic() < built + 30:  # the server polls its index every 2 s
            if httpx.get(f"{load.base}/health", timeout=10).json().get("build") != before:
                switched = time.monotonic()
                break
            time.sleep(0.2)
        seen = f"served {switched - built:.1f} s after the build" if switched else "NOT served within 30 s"
        late = " (after the load had ended: give --seconds more)" if built > load.deadline else ""
        report.append(f"rebuild {round_}: edited {edited.relative_to(articles)}, kb build {took:.1f} s, {seen}{late}")


# --- report ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def report(load: Load, elapsed: float, clients: int, notes: list[str]) -> int:
    """Print the figures; return the number of failures (not counting 429s)."""
    total = sum(t.count for t in load.tallies.values())
    print(f"\n{clients} clients, {elapsed:.1f} s, {total} requests, {total / elapsed:.1f} requests/s")
    print(f"{'kind':<8} {'requests':>9} {'req/s':>7} {'2xx':>7} {'429':>6} {'failed':>7} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    failed = 0
    for kind, t in load.tallies.items():
        lat = [v * 1000 for v in t.latencies]
        p = [f"{percentile(lat, q):8.1f}" if lat else f"{'-':>8}" for q in (50, 95, 99)]
        n_failed = sum(t.failures.values())
        failed += n_failed
        print(f"{kind:<8} {t.count:>9} {t.count / elapsed:>7.1f} {len(t.latencies):>7} {t.limited:>6} "
              f"{n_failed:>7} {' '.join(p)}")
    for kind, t in load.tallies.items():
        for reason, n in sorted(t.failures.items(), key=lambda kv: -kv[1]):
            print(f"  failed {kind}: {reason} x{n}")
    for note in notes:
        print(note)
    return failed


def load_queries(path: Path | None, seed: int) -> list[str]:
    source = path or (PARAKQC_QUERIES if PARAKQC_QUERIES.is_file() else None)
    queries = FALLBACK_QUERIES
    if source is not None:
        with source.open(encoding="utf-8") as f:
            queries = list(dict.fromkeys(json.loads(line)["query"] for line in f if line.strip()))
    queries = list(queries)
    random.Random(seed).shuffle(queries)
    return queries


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?", help="a running kb (default: start one on a temporary index)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to load (default 30)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (threads; default 8)")
    p.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests in all")
    p.add_argument("--think", type=float, default=0.0, help="mean pause between a client's requests, seconds")
    p.add_argument("--queries", type=Path, help="queries JSONL ({\"query\": ...} per line; default: paraKQC dev "
                                               "queries when present, else a built-in Korean list)")
    p.add_argument("--articles", type=Path, default=ROOT / "articles",
                   help="articles to build (default articles/); a temporary copy is built and edited, never the folder")
    p.add_argument("--index", type=Path, help="with a URL and --rebuild-twice: the index folder that server serves")
    p.add_argument("--rebuild-twice", action="store_true",
                   help="edit an article and run `kb build` at 1/3 and 2/3 of the run (each loads the model: "
                        "10-40 s, so give --seconds 90 or more)")
    p.add_argument("--real-limits", action="store_true",
                   help="the started server keeps kb's rate limits; each client gets its own forwarded address")
    p.add_argument("--abuse", action="store_true", help="customers, then beside a long-query abuser (kb's limits)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0:
        p.error("--clients and --seconds must be positive")
    if args.url and args.rebuild_twice and not args.index:
        p.error("--rebuild-twice against a running kb needs --index (and --articles) of that server")

    queries = load_queries(args.queries, args.seed)
    with tempfile.TemporaryDirectory(prefix="kb-load-") as tmp:
        work = Path(tmp)
        articles = work / "articles"
        if not args.url or args.rebuild_twice:
            shutil.copytree(args.articles, articles)  # what is built, and what the rebuilds edit
        if args.url:
            if args.abuse:
                return run_abuse(args, args.url.rstrip("/"), queries)
            return run(args, args.url.rstrip("/"), queries, articles, args.index)
        index = work / "index"
        print(f"building {args.articles} into a temporary index ...", flush=True)
        print(f"  kb build {build(articles, index, dict(os.environ)):.1f} s", flush=True)
        with started_server(articles, index, args.real_limits or args.abuse, work / "server.log") as base:
            return run_abuse(args, base, queries) if args.abuse else run(args, base, queries, articles, index)


def run(args: argparse.Namespace, base: str, queries: list[str], articles: Path, index: Path | None) -> int:
    load = Load(base, queries, args.seconds, args.max_requests, forwarded=args.real_limits and not args.url)
    notes: list[str] = []
    clients = [threading.Thread(target=client_loop, args=(load, i, args.seed, args.think), daemon=True)
               for i in range(args.clients)]
    rebuilds = None
    if args.rebuild_twice and index is not None:
        rebuilds = threading.Thread(target=rebuild_twice, args=(load, articles, index, args.seconds, notes),
                                    daemon=True)
    print(f"loading {base}: {args.clients} clients for {args.seconds:g} s, {len(queries)} distinct queries",
          flush=True)
    started = time.monotonic()
    for t in [*clients, *([rebuilds] if rebuilds else [])]:
        t.start()
    for t in clients:
        t.join(timeout=args.seconds + 60)  # a request in flight ends within its 30 s timeout
    elapsed = time.monotonic() - started
    if rebuilds is not None:
        rebuilds.join(timeout=120)  # a late rebuild still reports whether it was served
    failed = report(load, elapsed, args.clients, notes)
    return 1 if failed else 0


def run_abuse(args: argparse.Namespace, base: str, queries: list[str]) -> int:
    """Customers alone, then the same customers beside one client sending maximal queries; print both."""
    searches: list[list[float]] = []
    failed = 0
    with httpx.Client(base_url=base, timeout=30) as warm:  # what a server loads at its first searches is not timed
        for q in queries[-10:]:
            _call(warm, "GET", "/search", params={"q": q})
    for phase, supply in (("without", queries[::2]), ("with", queries[1::2])):  # no query seen twice: no cache hits
        load = Load(base, supply, args.seconds, args.max_requests, forwarded=not args.url)
        load.tallies["abuse"] = Tally()
        threads = [threading.Thread(target=client_loop, args=(load, i, args.seed, args.think or 0.5), daemon=True)
                   for i in range(args.clients)]
        if phase == "with":
            threads += [threading.Thread(target=abuser_loop, args=(load, j), daemon=True) for j in range(1, 5)]
        print(f"\n{phase} the abuser: {args.clients} customers for {args.seconds:g} s", flush=True)
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 60)
        failed += report(load, time.monotonic() - started, len(threads), [])
        searches.append([v * 1000 for v in load.tallies["search"].latencies] or [float("nan")])
    (p50a, p95a), (p50b, p95b) = ((percentile(lat, 50), percentile(lat, 95)) for lat in searches)
    print(f"\ncustomers' searches without -> with the abuser: p50 {p50a:.1f} -> {p50b:.1f} ms, p95 {p95a:.1f} -> "
          f"{p95b:.1f} ms; p95 x{p95b / p95a:.2f} (target: at most x2)")
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
