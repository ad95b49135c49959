"""The index: building a complete build folder (:mod:`kb.index.build`), storing and loading it
(:mod:`kb.index.store`), and its lexical side (:mod:`kb.index.lexical`)."""

from __future__ import annotations

from kb.index.build import BuildCache, BuildStats, build_index
from kb.index.store import FORMAT_VERSION, LoadedIndex, current_path, load_index, read_manifest

__all__ = ["FORMAT_VERSION", "BuildCache", "BuildStats", "LoadedIndex", "build_index", "current_path",
           "load_index", "read_manifest"]
