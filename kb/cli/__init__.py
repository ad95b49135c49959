"""The ``kb`` command: build, search, serve, lint, eval, feedback.

Expected failures (:class:`KBError`) print one ``kb: error: ...`` line and exit 1; usage errors exit 2 (argparse,
or :class:`~kb.cli.common.UsageError` raised by a command). Settings come from the arguments, then ``KB_*``
environment variables, then the defaults.

One module per kind of data, each registering its own subcommands:

- :mod:`kb.cli.articles`: ``lint``, ``import``, ``export``
- :mod:`kb.cli.index`: ``build``, ``search``, ``eval``, ``model``
- :mod:`kb.cli.serve`: ``serve``
- :mod:`kb.cli.feedback`: ``feedback``, ``gaps``, ``db``
- :mod:`kb.cli.common`: what they share (settings from the arguments, ``--index``/``--model``, error lines,
  the build with its progress bar)

This module only builds the parser from those modules and runs the chosen command (:func:`main`).

Adding a command (say ``kb learn``):

1. write ``kb/cli/learn.py`` with ``add_commands(sub)``, which calls ``sub.add_parser("learn", help=...)``, adds
   the arguments (:func:`~kb.cli.common.add_location_args` for ``--index``/``--model``) and ends with
   ``set_defaults(func=cmd_learn)``; ``cmd_learn(args) -> int`` returns the exit code and builds its settings
   with :func:`~kb.cli.common.settings_from`;
2. add the module to :data:`COMMAND_MODULES` below (and the command's name to :data:`ORDER`, else ``kb --help``
   lists it last);
3. test it in ``tests/cli/test_learn.py`` through :func:`main`.

A command raises :class:`KBError` for an expected failure (``main`` prints it, one line, exit 1) and
:class:`~kb.cli.common.UsageError` for arguments that make no sense together (usage, exit 2); it does not catch
them itself. Import kb's own light modules at the top; the heavy ones (the model, uvicorn, FastAPI, pydantic,
tqdm) inside the function that needs them, so that ``kb --help`` and ``import kb.cli`` stay quick
(``tests/cli/test_main.py`` checks).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from kb import __version__
from kb.cli import articles, feedback, index, learn, serve
from kb.cli.common import Subparsers, UsageError, err
from kb.errors import KBError

# the modules whose add_commands(sub) register the subcommands
COMMAND_MODULES = (index, articles, serve, feedback, learn)

# the order `kb --help` lists the commands in (one not named here comes last)
ORDER = ("build", "lint", "search", "serve", "model", "eval", "feedback", "gaps", "learn", "db", "import", "export")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kb", description="FAQ semantic search for a customer help center.")
    p.add_argument("--version", action="version", version=f"kb {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_commands(sub)
    _in_order(sub)
    return p


def _in_order(sub: Subparsers) -> None:
    """List the commands in :data:`ORDER` (help and "invalid choice"), whichever module registered them."""
    rank = {name: i for i, name in enumerate(ORDER)}
    sub._choices_actions.sort(key=lambda action: rank.get(action.dest, len(ORDER)))  # the help lines
    by_name = sorted(sub.choices.items(), key=lambda item: rank.get(item[0], len(ORDER)))
    sub.choices.clear()
    sub.choices.update(by_name)


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as e:
        p.error(str(e))
    except KBError as e:
        err(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
