"""Damaging a build on disk the ways the outside probe did (issue #17): bytes overwritten in place (the file keeps
its inode, so memory-mapped arrays see them at once), a file cut short, a file gone."""

from __future__ import annotations

import os
from pathlib import Path

LEXICAL_ARRAY = "lexical/indices.csc.index.npy"  # the document ids per term: junk there makes bm25s index out of range


def overwrite(path: Path, start: int = 128) -> None:
    """Overwrite everything from ``start`` (past a .npy header) with fixed junk bytes, in place."""
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(min(start, size // 2))
        f.write(bytes((i * 37 + 11) % 256 for i in range(size - f.tell())))


def damage(path: Path, how: str) -> None:
    """``how``: "overwrite", "truncate" (half the file) or "delete"."""
    if how == "overwrite":
        overwrite(path, start=0 if path.suffix != ".npy" else 128)
    elif how == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.unlink()
