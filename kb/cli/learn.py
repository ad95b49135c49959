"""``kb learn``: what kb learned from customers and agents (:mod:`kb.feedback.learning`), as /admin shows it:
``kb learn`` (or ``kb learn list``) lists every learned, pending, vetoed and rejected wording per article with its
evidence (``--json`` for scripts); ``accept``, ``reject`` and ``undo`` record an editor's decision. The next
``kb build`` folds the live ones in."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from kb.articles.parse import load_articles
from kb.cli.common import Subparsers, add_location_args, settings_from
from kb.errors import KBError
from kb.feedback.connect import open_engine, store_exists
from kb.feedback.evidence import Evidence
from kb.feedback.learning import STATES, Learned, verdict

ACTIONS = {"accept": "accepted", "reject": "rejected"}


def add_commands(sub: Subparsers) -> None:
    le = sub.add_parser("learn", help="wordings learned from customers and agents: list, accept, reject, undo")
    le_sub = le.add_subparsers(dest="learn_command", metavar="ACTION")
    for parser in (le, ls := le_sub.add_parser("list", help="every learned and pending wording (the default)")):
        add_location_args(parser, articles=True)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--state", choices=STATES, help="only wordings in this state")
        parser.set_defaults(func=cmd_learn_list)
    del ls
    for action, helptext in (("accept", "a pending wording goes live at the next build"),
                             ("reject", "never learn this wording for this article (it sticks)"),
                             ("undo", "forget the editor's decision on this wording")):
        p = le_sub.add_parser(action, help=helptext)
        add_location_args(p, articles=True)
        p.add_argument("wording", help="the wording, as `kb learn` lists it")
        p.add_argument("article_id", help="the article's id")
        p.set_defaults(func=cmd_learn_decide, action=action)


def _evidence(args: argparse.Namespace) -> tuple[Evidence, str]:
    settings = settings_from(args)
    return Evidence(open_engine(settings)), settings.learn


def listing(args: argparse.Namespace) -> tuple[list[Learned], str]:
    """The policy's verdict on the articles folder's articles, and the learning mode (reading creates nothing)."""
    settings = settings_from(args)
    if not store_exists(settings):
        return [], settings.learn
    evidence, mode = _evidence(args)
    try:
        return verdict(evidence, load_articles(settings.articles_dir), mode), mode
    finally:
        evidence.close()


def cmd_learn_list(args: argparse.Namespace) -> int:
    """``kb learn [list]``: learned and pending wordings per article, with their evidence."""
    items, mode = listing(args)
    if args.state:
        items = [i for i in items if i.state == args.state]
    if args.json:
        print(json.dumps({"mode": mode, "wordings": [asdict(i) for i in items]}, ensure_ascii=False))
        return 0
    if not items:
        print(f"nothing learned yet (KB_LEARN={mode})")
        return 0
    print(f"KB_LEARN={mode}; live wordings join the index at the next `kb build`")
    article = None
    for i in items:
        if i.article_id != article:
            article = i.article_id
            print(f"{article}:")
        rank = "-" if i.best_rank is None else str(i.best_rank)
        print(f"  {i.state:<8} {i.wording}  ({i.clients} clients, rank {rank}{'; ' + i.reason if i.reason else ''})")
    return 0


def cmd_learn_decide(args: argparse.Namespace) -> int:
    """``kb learn accept|reject|undo WORDING ARTICLE``."""
    settings = settings_from(args)
    known = {a.id for a in load_articles(settings.articles_dir)}
    if args.article_id not in known:
        raise KBError(f"no article with id {args.article_id!r} in {settings.articles_dir}")
    evidence, _ = _evidence(args)
    try:
        if args.action == "undo":
            if not evidence.undecide(args.wording, args.article_id):
                raise KBError(f"no decision on {args.wording!r} for {args.article_id}")
        else:
            try:
                evidence.decide(args.wording, args.article_id, ACTIONS[args.action])
            except ValueError as e:
                raise KBError(str(e)) from None
    finally:
        evidence.close()
    print(f"{args.action}: {args.wording!r} for {args.article_id}")
    return 0
