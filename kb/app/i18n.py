"""The one table of UI strings (Korean first, English; ``kb/app/strings/<lang>.json``), and choosing a language
for a request.

The server fills the page's static text from this table and hands the same table to the page's
scripts as JSON, so a string is written once. ``{name}`` placeholders are filled in by the scripts.
"""

from __future__ import annotations

import json
from importlib import resources

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"

def _load(lang: str) -> dict[str, str]:
    return json.loads(resources.files("kb.app").joinpath("strings", f"{lang}.json").read_text(encoding="utf-8"))


# the strings are data (kb/app/strings/<lang>.json), one key per UI text, the same keys in every language
STRINGS: dict[str, dict[str, str]] = {lang: _load(lang) for lang in LANGS}


def choose_lang(requested: str | None, accept_language: str | None) -> str:
    """``?lang=`` if it names a supported language, else the best ``Accept-Language`` match, else Korean."""
    if requested:
        code = requested.strip().lower()[:2]
        if code in LANGS:
            return code
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        pieces = part.strip().split(";")
        code = pieces[0].strip().lower()[:2]
        weight = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if code in LANGS and weight > 0 and (best is None or (weight, -position) > (best[0], best[1])):
            best = (weight, -position, code)
    return best[2] if best else DEFAULT_LANG
