"""``kb.cli.main``: the parser built from the command modules, one ``kb: error`` line per expected failure,
usage errors exit 2; ``import kb.cli`` stays light."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from kb import __version__, cli
from kb.errors import KBError
from kb.limits import MAX_K
from tests.conftest import ROOT, write

HEAVY = ("numpy", "faiss", "fastapi", "starlette", "pydantic", "uvicorn", "torch", "onnxruntime", "sklearn",
         "scipy", "psycopg", "tqdm")


def test_expected_failures_print_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "반품", "--index", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kb: error: no index at") and "kb build" in err and "\n" not in err
    write(tmp_path / "bad" / "a.md", "---\ntitle: [oops\n---\nbody\n")
    assert cli.main(["build", "--articles", str(tmp_path / "bad"), "--index", str(tmp_path / "i")]) == 1
    err = capsys.readouterr().err
    assert "a.md:2: bad YAML" in err and "the live index is unchanged" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["search"], ["search", "x", "--k", "0"], ["build", "--nope"], []])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_a_usage_error_raised_by_a_command_prints_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["search", "x", "--k", str(MAX_K + 1)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kb ") and err.endswith(f"kb: error: --k must be between 1 and {MAX_K}\n")


def test_help_lists_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert re.findall(r"^    (\S+)", out, re.MULTILINE) == list(cli.ORDER)
    with pytest.raises(SystemExit):
        cli.main(["nope"])
    assert "(choose from 'build', 'lint', 'search', 'serve', 'model', " in capsys.readouterr().err


def test_a_command_module_plugs_in_through_add_commands(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """What adding a command takes: a module with ``add_commands(sub)``, named in COMMAND_MODULES."""

    def cmd_learn(args: argparse.Namespace) -> int:
        if args.fail:
            raise KBError("nothing to learn from")
        print("learned")
        return 0

    def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        p = sub.add_parser("teach", help="teach")
        p.add_argument("--fail", action="store_true")
        p.set_defaults(func=cmd_learn)

    teach = types.SimpleNamespace(add_commands=add_commands)
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, teach))
    assert cli.main(["teach"]) == 0 and capsys.readouterr().out == "learned\n"
    assert cli.main(["teach", "--fail"]) == 1
    assert capsys.readouterr().err == "kb: error: nothing to learn from\n"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert re.findall(r"^    (\S+)", capsys.readouterr().out, re.MULTILINE)[-1] == "teach"  # not in ORDER: last


def test_interrupted_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("kb.cli.feedback.cmd_feedback", interrupted)
    assert cli.main(["feedback"]) == 130


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import sys, kb.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == ""


def test_python_dash_m_kb() -> None:
    out = subprocess.run([sys.executable, "-m", "kb", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert (out.returncode, out.stdout) == (0, f"kb {__version__}\n")
