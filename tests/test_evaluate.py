from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.errors import KBError
from kb.evaluate import (
    Event,
    format_learning_report,
    format_report,
    load_events,
    rank_metrics,
    run_eval,
    run_learning_eval,
)
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


# -- learning, replayed through the server's code (kb eval --learn-from) ---------------------------------------

SHOP = [
    {"id": "track", "question": "배송 조회는 어떻게 하나요?", "answer": "마이페이지에서 조회하세요."},
    {"id": "return", "question": "반품 신청 방법", "answer": "반품 신청 버튼을 누르세요."},
    {"id": "pw", "question": "비밀번호를 잊어버렸어요", "answer": "비밀번호 찾기를 누르세요."},
    {"id": "coupon", "question": "쿠폰은 어디서 받나요?", "answer": "이벤트 페이지에서 받으세요."},
    {"id": "points", "question": "포인트 적립 기준", "answer": "구매 금액의 1%가 적립됩니다."},
    {"id": "cancel", "question": "주문 취소는 어떻게 하나요?", "answer": "주문 내역에서 취소하세요."},
    {"id": "gift", "question": "선물 포장이 되나요?", "answer": "결제 단계에서 선택하세요."},
    {"id": "size", "question": "사이즈 교환 가능한가요?", "answer": "교환 신청을 해 주세요."},
]
# with the fake embedder, cold: track is 2nd for the first wording (inside the top 3), pw 5th for the second
# (outside), points 1st and gift 8th for the third
SHOP_QUERIES = [{"query": "내 물건 어디쯤 왔나요?", "relevant_ids": ["track"]},
                {"query": "로그인이 안 돼요", "relevant_ids": ["pw"]},
                {"query": "적립금 얼마나 쌓여요", "relevant_ids": ["points"]}]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path, Settings]:
    settings = Settings.from_env({}, cache_dir=tmp_path / "cache", model="fake-ngram-64")
    return _write(tmp_path / "faq.jsonl", SHOP), _write(tmp_path / "q.jsonl", SHOP_QUERIES), settings


def test_learning_is_replayed_through_the_guards(shop: tuple[Path, Path, Settings], tmp_path: Path) -> None:
    faq, queries, settings = shop
    events = _write(tmp_path / "events.jsonl", [
        # kb ranks track 2nd for it: an agent's copy re-ranks it (a customer's vote alone would wait)
        {"query": "내 물건 어디쯤 왔나요", "relevant_ids": ["track", "return"], "signal": "copied"},
        {"query": "내 물건 어디쯤 왔나요", "relevant_ids": ["track"], "client": "c1", "signal": "opened"},
        {"query": "내 물건 어디쯤 왔나요?", "relevant_ids": ["track"], "client": "c1", "signal": "opened"},  # again
        {"query": "로그인이 안 돼요", "relevant_ids": ["pw"]},  # kb has it 5th: waits for an editor
        *[{"query": "적립금 얼마나 쌓여요", "relevant_ids": ["gift"], "client": f"bot-{n}"} for n in range(40)],
        *[{"query": f"적립금 얼마나 쌓여요 {n}", "relevant_ids": ["gift"], "client": "mallory"} for n in range(40)],
    ])
    result = run_learning_eval(events, faq, queries, settings, FakeEmbedder())
    assert result["learning"] == {"events": 84, "stored": 73, "refused": 11, "live": 1, "pending": 32,
                                  "vetoed": 0, "rejected": 0, "questions": 1}  # mallory's 30 a day wait too
    assert result["cold"] == {**run_eval(faq, queries, settings, FakeEmbedder()),
                              "ranking_ms": result["cold"]["ranking_ms"]}
    assert (result["cold"]["hit@1"], result["learned"]["hit@1"]) == (round(1 / 3, 4), round(2 / 3, 4))
    text = format_learning_report(result, "shop")
    assert text.startswith("shop") and "hit@1" in text and "0.3333   0.6667" in text
    assert "1 questions learned; 32 pending an editor" in text


def test_with_nothing_learned_the_figures_stay(shop: tuple[Path, Path, Settings], tmp_path: Path) -> None:
    faq, queries, settings = shop
    events = _write(tmp_path / "events.jsonl", [{"query": "로그인이 안 돼요", "relevant_ids": ["pw"]},
                                                {"query": "x" * 600, "relevant_ids": ["pw"]}])
    off = Settings.from_env({"KB_LEARN": "off"}, cache_dir=settings.cache_dir, model="fake-ngram-64")
    for mode in (settings, off):
        result = run_learning_eval(events, faq, queries, mode, FakeEmbedder())
        assert result["learning"]["questions"] == 0 and result["learning"]["refused"] == 1
        for key in ("hit@1", "hit@5", "mrr@10", "ndcg@10", "n", "decision"):
            assert result["cold"][key] == result["learned"][key]


def test_events_are_checked_line_by_line(tmp_path: Path) -> None:
    assert load_events(_write(tmp_path / "ok.jsonl", [
        {"query": "q", "relevant_ids": "a"}, {"query": "q", "relevant_ids": ["a"], "signal": "copied", "client": 7}])) \
        == [Event("q", ("a",)), Event("q", ("a",), "7", "copied", "agents")]
    for n, bad in enumerate(([{"query": "q"}], [{"query": "q", "relevant_ids": ["a"], "signal": "liked"}],
                             [{"query": 3, "relevant_ids": ["a"]}], ["[1]"], [])):
        path = tmp_path / f"bad{n}.jsonl"
        path.write_text("\n".join(b if isinstance(b, str) else json.dumps(b) for b in bad), encoding="utf-8")
        with pytest.raises(KBError, match=f"bad{n}.jsonl"):
            load_events(path)


def test_kb_eval_learn_from(shop: tuple[Path, Path, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from kb import cli

    faq, queries, settings = shop
    monkeypatch.setattr("kb.model.embed.load_embedder", lambda settings: FakeEmbedder())
    monkeypatch.setenv("KB_CACHE_DIR", str(settings.cache_dir))
    events = _write(tmp_path / "events.jsonl", [{"query": "내 물건 어디쯤 왔나요", "relevant_ids": ["track"],
                                                 "signal": "copied"}])
    argv = ["eval", "--faq", str(faq), "--queries", str(queries), "--learn-from", str(events)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "cold  learned" in out and "1 questions learned" in out
    assert cli.main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["learned"]["hit@1"] == round(2 / 3, 4)
    with pytest.raises(SystemExit) as usage:
        cli.main(["eval", "--queries", str(queries), "--learn-from", str(events)])
    assert usage.value.code == 2 and "--learn-from needs --faq" in capsys.readouterr().err
