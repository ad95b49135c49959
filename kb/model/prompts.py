"""The query/passage prompts a model wants: ``query: `` and ``passage: `` for the e5 family."""

from __future__ import annotations

import json
import re
from pathlib import Path

E5_PROMPTS: dict[str, str] = {"query": "query: ", "passage": "passage: "}


def model_prompts(model_name: str) -> dict[str, str]:
    """Query/passage prompts for a model name or path: e5 family -> {"query": "query: ", "passage": "passage: "}.

    A local sentence-transformers folder that declares "query"/"passage" prompts returns those; an unknown
    model (and e5-*-instruct, which wants "Instruct: ...") returns {}.
    """
    name = model_name.strip()
    if not name:
        return {}
    folder = Path(name).expanduser()
    if folder.is_dir():
        prompts = _folder_prompts(folder)
        if prompts:
            return prompts
    if _is_e5_name(name):
        return dict(E5_PROMPTS)
    return {}


def _is_e5_name(name: str) -> bool:
    """True for e5 retrieval models that want the ``query: ``/``passage: `` prefixes."""
    base = name.lower().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]  # "intfloat/e5-base" -> "e5-base"
    if "instruct" in base:  # e5-*-instruct models want "Instruct: ...\nQuery: " instead
        return False
    return re.search(r"(?:^|[_\-.])e5(?:$|[_\-.])", base) is not None


def _folder_prompts(folder: Path) -> dict[str, str]:
    """The query/passage prompts a sentence-transformers folder declares, if any."""
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {k: v for k, v in prompts.items() if k in ("query", "passage") and isinstance(v, str) and v}
