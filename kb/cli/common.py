"""What the command modules share: settings from the arguments, the shared arguments, error lines, and the
gated build with its progress bar (``kb build`` and ``kb lint --check``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from kb.pipeline import gated_build
from kb.settings import Settings

if TYPE_CHECKING:
    from kb.articles.lint import LintReport
    from kb.index.build import BuildStats
    from kb.model.embed import Embedder


# what ``add_commands(sub)`` receives: ``sub.add_parser(name, help=...)`` makes a command's parser
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """Arguments that parse but make no sense together: ``kb.cli.main`` prints the usage and exits 2."""


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the arguments a command has, then ``KB_*`` variables, then the defaults."""
    return Settings.from_env(
        articles_dir=getattr(args, "articles", None), index_dir=getattr(args, "index", None),
        model=getattr(args, "model", None), host=getattr(args, "host", None), port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )


def err(message: str) -> None:
    """The one ``kb: error: ...`` line on standard error."""
    print(f"kb: error: {message}", file=sys.stderr)


def add_location_args(sp: argparse.ArgumentParser, articles: bool = False) -> None:
    """``--index`` and ``--model`` (and ``--articles``): where a command finds its data."""
    if articles:
        sp.add_argument("--articles", metavar="DIR", help="articles folder (KB_ARTICLES_DIR; default articles/)")
    sp.add_argument("--index", metavar="DIR", help="index folder (KB_INDEX_DIR; default index/)")
    sp.add_argument("--model", metavar="NAME", help="sentence-transformers model name or path (KB_MODEL)")


def existing_file(value: str) -> Path:
    """argparse type: a file that exists (else a usage error naming it)."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def progress(quiet: bool) -> Any:
    """An embedding progress bar on standard error (nothing when ``quiet``); its total is set later."""
    from tqdm import tqdm

    return tqdm(total=0, unit="entry", desc="embedding", file=sys.stderr, disable=quiet, leave=False)


def _in_log(bar: Any) -> bool:
    """The bar is drawn and standard error is not a terminal (a log file, journald, CI): there tqdm's ``\r``
    does not clear anything, and whatever is printed next lands on the bar's line unless the line is ended."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not bar.disable and not (isatty is not None and isatty())


def end_progress(bar: Any) -> None:
    """Close the bar; in a log also end its line, so the next message (an error above all) has its own line."""
    in_log = _in_log(bar)
    bar.close()  # a second close does nothing (tqdm disables a closed bar)
    if in_log:
        print(file=sys.stderr)


def progress_note(bar: Any, message: str) -> None:
    """A message on standard error while the bar is up: on a terminal the bar steps aside (``tqdm.write``), in a
    log its line is ended first."""
    if bar.disable:
        print(message, file=sys.stderr)
    elif _in_log(bar):
        print(f"\n{message}", file=sys.stderr)
    else:
        bar.write(message, file=sys.stderr)


def build_with_progress(settings: Settings, embedder: Embedder, report: LintReport, *, drafts: bool, quiet: bool,
                        check: bool, index_dir: Path | None = None) -> BuildStats:
    """:func:`kb.pipeline.gated_build` with a progress bar, closed (its line ended) before anything else prints:
    the content tests' verdict, or the error that stopped the build."""
    bar = progress(quiet)

    def on_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    try:
        return gated_build(settings, embedder, report=report, drafts=drafts, check=check, index_dir=index_dir,
                           progress=bar.update, on_total=on_total, before_check=lambda: end_progress(bar),
                           on_wait=None if quiet else lambda: progress_note(
                               bar, "waiting for another build of this index to finish..."))
    finally:
        end_progress(bar)


def report_checks(failures: list[Any], message: str | None = None) -> int:
    """Print the content tests' verdict; exit code 1 when one failed."""
    if not failures:
        print("content tests: all passed")
        return 0
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    err(message or f"{len(failures)} content test(s) failed")
    return 1
