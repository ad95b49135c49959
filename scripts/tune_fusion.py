"""Refit the decision constants of kb/fusion.py (P_CORRECT, P_ON_TOPIC, ANSWER_AT, NONE_BELOW).

    .venv/bin/python scripts/tune_fusion.py            # prints the constants and the figures they give

Data: the dev split of every shared benchmark (each KB queried with its own queries, and with 300 queries
of each other benchmark as off-topic ones), plus the sample KB (``articles/`` with
``tests/data/sample_queries.jsonl``) queried with the small talk / gibberish in OFF_TOPIC. Features come
from the real Searcher with the DEFAULT fusion, so the constants fit what is served. Paste the printed
block into kb/fusion.py.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# Unrelated to any help centre (and to every benchmark: no weather here, paraKQC has a weather topic).
OFF_TOPIC = (
    "ㅋㅋㅋㅋ", "ㅎㅎㅎ", "ㅠㅠㅠㅠ", "asdfgh", "qwerty", "asdf asdf", "ㅁㄴㅇㄹ", "zxcvbnm", "hello", "hi there",
    "안녕하세요", "안녕", "심심해", "뭐해?", "점심 뭐 먹지", "오늘 저녁 메뉴 추천해줘", "너 이름이 뭐야", "사랑해",
    "노래 불러줘", "재미있는 얘기 해줘", "졸려", "주식 추천해줘", "로또 번호 알려줘", "축구 경기 결과",
    "what's your name", "tell me a joke", "who won the game last night", "I love you", "lol", "thanks bye",
    "best pizza near me", "how old are you", "what is the meaning of life", "sing a song", "good morning",
    "고양이 사진 보여줘", "내일 비 와?", "what's the weather", "안녕하세요 오늘 날씨 어때", "좋은 아침이에요",
    "인생이 힘들다", "영화 추천 좀", "1+1은?", "ㅇㅇ", "...", "?", "test", "테스트",
)
WEATHER_LIKE = {"내일 비 와?", "what's the weather", "안녕하세요 오늘 날씨 어때"}


@dataclass
class Row:
    kb: str
    features: tuple[float, ...]
    correct: int  # top-1 relevant
    on_topic: int  # a relevant one in the top 5
    in_domain: bool


def collect(embedder, settings, benchmarks: Path, per_other: int = 300) -> list[Row]:  # noqa: ANN001
    from bench_quality import SETS

    from kb.articles.benchmarks import LabelledQuery, load_faq, load_queries
    from kb.articles.parse import load_articles
    from kb.evaluate import _eval_index_root
    from kb.index.build import build_index
    from kb.pipeline import config_files, open_build

    queries = {s: load_queries(benchmarks / s / "queries_dev.jsonl") for s in SETS}
    rng = random.Random(7)
    kbs = []
    for s in SETS:
        faq = benchmarks / s / "faq.jsonl"
        root = _eval_index_root(settings, faq)
        assert root is not None
        build_index(load_faq(faq), embedder, root)
        others = [q for o in SETS if o != s for q in rng.sample(queries[o], per_other)]
        small = [LabelledQuery(t, ()) for t in OFF_TOPIC if not (s == "parakqc" and t in WEATHER_LIKE)]
        kbs.append((s, root, queries[s], [LabelledQuery(q.query, ()) for q in others] + small))
    sample_q = ROOT / "tests" / "data" / "sample_queries.jsonl"
    if sample_q.is_file():
        root = Path(settings.cache_dir) / "eval-indexes" / "sample-articles"
        build_index(load_articles(ROOT / "articles"), embedder, root, config_files=config_files(ROOT / "articles"))
        kbs.append(("sample", root, load_queries(sample_q), [LabelledQuery(t, ()) for t in OFF_TOPIC]))
    rows: list[Row] = []
    for name, index_root, positives, negatives in kbs:
        searcher = open_build(index_root, embedder)
        for group, in_domain in ((positives, True), (negatives, False)):
            texts = [" ".join(q.query.split()) for q in group]
            vecs = searcher.embed_queries(texts)
            for q, text, vec in zip(group, texts, vecs, strict=False):
                r = searcher.rank(text, vec)
                if r.features is None:
                    continue
                top = [searcher.article_ids[int(a)] for a in r.order[:5]]
                rel = set(q.relevant_ids)
                rows.append(Row(name, r.features.vector(), int(bool(top) and top[0] in rel),
                                int(any(a in rel for a in top)), in_domain))
        print(f"  {name}: {len(positives)} queries, {len(negatives)} off-topic", file=sys.stderr)
    return rows


def fit_logistic(x, y, l2: float = 1e-2, iters: int = 50):  # noqa: ANN001, ANN201
    """Newton's method on standardised features; returns (bias, weights, means, scales)."""
    import numpy as np

    means = x.mean(0)
    scales = x.std(0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - means) / scales]
    w = np.zeros(z.shape[1])
    reg = l2 * np.eye(z.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (p - y) / len(y) + reg @ w
        hess = (z * (p * (1 - p))[:, None]).T @ z / len(y) + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(w[0]), tuple(float(v) for v in w[1:]), tuple(float(v) for v in means), tuple(float(v) for v in scales)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--benchmarks", type=Path, default=None)
    parser.add_argument("--precision", type=float, default=0.95, help="answer precision wanted on every dev set")
    parser.add_argument("--offtopic-none", type=float, default=0.95, help="share of small talk that must be none")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    from bench_quality import MemoEmbedder, default_benchmarks

    from kb.model.embed import load_embedder
    from kb.search.fusion import FEATURES, Logistic
    from kb.settings import Settings

    settings = Settings.from_env()
    rows = collect(MemoEmbedder(load_embedder(settings)), settings, args.benchmarks or default_benchmarks())
    x = np.array([r.features for r in rows])
    correct = np.array([r.correct for r in rows], dtype=float)
    on = np.array([r.on_topic for r in rows], dtype=float)
    pc = Logistic(*fit_logistic(x, correct))
    po = Logistic(*fit_logistic(x, on))
    p_c = np.array([pc(v) for v in x])
    p_o = np.array([po(v) for v in x])
    kbs = sorted({r.kb for r in rows})
    ind = np.array([r.in_domain for r in rows])
    kb_of = np.array([r.kb for r in rows])
    small = np.array([not r.in_domain and r.kb == "sample" for r in rows])

    # none: the highest threshold keeping in-domain `none` rare, then check small talk
    none_at = None
    for t in np.arange(0.05, 0.95, 0.01):
        if (p_o[small] < t).mean() >= args.offtopic_none if small.any() else (p_o[~ind] < t).mean() >= 0.9:
            none_at = round(float(t), 2)
            break
    none_at = none_at if none_at is not None else 0.5
    # answer: the lowest threshold giving the wanted precision on every KB (in-domain queries, not none)
    answer_at = 0.99
    for t in np.arange(0.30, 0.99, 0.01):
        ok = True
        for kb in kbs:
            sel = (kb_of == kb) & ind & (p_c >= t) & (p_o >= none_at)
            if sel.sum() and correct[sel].mean() < args.precision:
                ok = False
        if ok:
            answer_at = round(float(t), 2)
            break
    print(f"features: {', '.join(FEATURES)}")
    print(f"P_CORRECT = Logistic(bias={pc.bias:.4f}, weights={tuple(round(v, 4) for v in pc.weights)},\n"
          f"                     means={tuple(round(v, 4) for v in pc.means)},\n"
          f"                     scales={tuple(round(v, 4) for v in pc.scales)})")
    print(f"P_ON_TOPIC = Logistic(bias={po.bias:.4f}, weights={tuple(round(v, 4) for v in po.weights)},\n"
          f"                      means={tuple(round(v, 4) for v in po.means)},\n"
          f"                      scales={tuple(round(v, 4) for v in po.scales)})")
    print(f"ANSWER_AT = {answer_at}\nNONE_BELOW = {none_at}")
    print(f"\n{'kb':<10} {'n':>5} {'hit@1':>6} {'ans.prec':>8} {'ans.cov':>8} {'none':>6} {'off-topic none':>15}")
    for kb in kbs:
        m = (kb_of == kb) & ind
        ans = m & (p_c >= answer_at) & (p_o >= none_at)
        off = (kb_of == kb) & ~ind
        print(f"{kb:<10} {m.sum():>5} {correct[m].mean():>6.3f} "
              f"{(correct[ans].mean() if ans.any() else float('nan')):>8.3f} {ans.sum() / m.sum():>8.3f} "
              f"{(p_o[m] < none_at).mean():>6.3f} {(p_o[off] < none_at).mean():>15.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
