from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.evaluate import format_report, rank_metrics, run_eval
from kb.settings import Settings
from tests.support.fakes import FakeEmbedder


def test_rank_metrics() -> None:
    assert rank_metrics(["a", "b"], ["a"]) == {"hit@1": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}
    m = rank_metrics(["x", "a", "b"], ["a", "b"])
    assert m["hit@1"] == 0.0 and m["hit@5"] == 1.0 and m["mrr@10"] == 0.5
    assert 0 < m["ndcg@10"] < 1
    assert rank_metrics(["x"] * 5 + ["a"], ["a"])["hit@5"] == 0.0
    assert rank_metrics([], ["a"])["mrr@10"] == 0.0


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def test_run_eval_on_a_faq_file(tmp_path: Path) -> None:
    faq = _write(tmp_path / "faq.jsonl", [
        {"id": "track", "question": "배송 조회는 어떻게 하나요?", "answer": "마이페이지에서 조회하세요."},
        {"id": "return", "question": "반품 신청 방법", "answer": "반품 신청 버튼을 누르세요."},
        {"id": "pw", "question": "비밀번호를 잊어버렸어요", "answer": "비밀번호 찾기를 누르세요."},
    ])
    queries = _write(tmp_path / "q.jsonl", [
        {"query": "배송 조회 어디서 해요", "relevant_ids": ["track"]},
        {"query": "반품 신청하고 싶어요", "relevant_ids": ["return"]},
        {"query": "비밀번호 찾기", "relevant_ids": ["pw", "track"]},
    ])
    settings = Settings.from_env({}, cache_dir=tmp_path / "cache", model="fake-ngram-64")
    result = run_eval(faq, queries, settings, FakeEmbedder())
    assert result["n"] == 3 and result["hit@1"] == 1.0 and result["mrr@10"] == 1.0
    assert set(result) >= {"hit@1", "hit@5", "mrr@10", "ndcg@10", "n", "decision"}
    d = result["decision"]
    assert d["answer_coverage"] + d["suggest_rate"] + d["none_rate"] == pytest.approx(1.0)
    text = format_report(result, "tiny")
    assert text.startswith("tiny") and "hit@1     1.000" in text and "answer" in text
    # second run reuses the cached index build (and its embeddings)
    embedder = FakeEmbedder()
    assert run_eval(faq, queries, settings, embedder)["hit@1"] == 1.0
    assert embedder.calls == 3  # only the queries


def test_run_eval_on_the_live_index(small_settings: Settings, fake_embedder: FakeEmbedder, tmp_path: Path) -> None:
    queries = _write(tmp_path / "q.jsonl", [{"query": "비밀번호를 잊어버렸어요", "relevant_ids": ["password-reset"]}])
    result = run_eval(None, queries, small_settings, fake_embedder)
    assert result["n"] == 1 and result["hit@1"] == 1.0
