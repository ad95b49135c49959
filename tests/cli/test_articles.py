"""``kb lint``, ``kb import``, ``kb export`` (kb.cli.articles; more in tests/articles/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import cli
from tests.conftest import write


def test_lint_reports_every_problem(small_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["lint", "--articles", str(small_kb)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("5 articles, 0 error(s), ")
    write(small_kb / "bad.md", "---\ntitle: [oops\n---\nbody\n")
    assert cli.main(["lint", "--articles", str(small_kb)]) == 1
    out = capsys.readouterr().out
    assert "error: " in out and "bad.md:2: bad YAML" in out and ", 1 error(s), " in out


def test_export_then_import_reads_it_back(small_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    faq = tmp_path / "faq.csv"
    assert cli.main(["export", "--articles", str(small_kb), "--out", str(faq)]) == 0
    assert capsys.readouterr().err == f"exported 5 articles from {small_kb} to {faq}\n"
    assert cli.main(["export", "--articles", str(small_kb)]) == 0  # without --out: standard output
    out = capsys.readouterr().out
    assert out.startswith("id,title,category,") and out.count("delivery-tracking,") == 1
    again = tmp_path / "again"
    assert cli.main(["import", str(faq), "--out", str(again), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"read {faq} (CSV") and "rows" in out
    assert f"would write 5 articles to {again} (dry run: nothing written)" in out and not again.exists()
    with pytest.raises(SystemExit) as e:
        cli.main(["import", str(tmp_path / "missing.csv")])  # SOURCE must exist: a usage error
    assert e.value.code == 2
