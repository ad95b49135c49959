"""``kb learn``: list (text and JSON), accept, reject, undo, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb import cli
from kb.feedback.connect import open_engine
from kb.feedback.evidence import Evidence
from kb.settings import Settings


def evidence_for(index: Path) -> Evidence:
    return Evidence(open_engine(Settings.from_env({}, index_dir=index)))


def test_list_reads_without_creating_a_store(small_kb: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "empty-index"
    assert cli.main(["learn", "--articles", str(small_kb), "--index", str(index)]) == 0
    assert "nothing learned yet (KB_LEARN=auto)" in capsys.readouterr().out
    assert not index.exists()


def test_list_accept_reject_undo(small_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    ev = evidence_for(index)
    ev.add("택배 도착 언제쯤", "delivery-tracking", "helpful", "c1", rank=1)
    ev.add("비번 분실", "en-refund", "helpful", "c2", rank=None)
    where = ["--articles", str(small_kb), "--index", str(index)]
    assert cli.main(["learn", "list", "--json", *where]) == 0
    states = {(w["wording"], w["article_id"]): w["state"] for w in json.loads(capsys.readouterr().out)["wordings"]}
    assert states == {("택배 도착 언제쯤", "delivery-tracking"): "live", ("비번 분실", "en-refund"): "pending"}
    assert cli.main(["learn", "accept", "비번 분실", "en-refund", *where]) == 0
    assert cli.main(["learn", "reject", "택배 도착 언제쯤", "delivery-tracking", *where]) == 0
    capsys.readouterr()
    assert cli.main(["learn", *where]) == 0
    out = capsys.readouterr().out
    assert "live     비번 분실" in out and "rejected 택배 도착 언제쯤" in out
    assert cli.main(["learn", "list", "--state", "rejected", "--json", *where]) == 0
    assert [w["wording"] for w in json.loads(capsys.readouterr().out)["wordings"]] == ["택배 도착 언제쯤"]
    assert cli.main(["learn", "undo", "택배 도착 언제쯤", "delivery-tracking", *where]) == 0
    assert ev.decisions() == {("비번 분실", "en-refund"): "accepted"}


def test_decisions_fail_clearly(small_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--articles", str(small_kb), "--index", str(tmp_path / "index")]
    assert cli.main(["learn", "accept", "배송", "no-such-article", *where]) == 1
    assert "kb: error: no article with id 'no-such-article'" in capsys.readouterr().err
    assert cli.main(["learn", "undo", "배송", "delivery-tracking", *where]) == 1
    assert "no decision on '배송'" in capsys.readouterr().err
    assert cli.main(["learn", "reject", "???", "delivery-tracking", *where]) == 1
    assert "kb: error:" in capsys.readouterr().err
