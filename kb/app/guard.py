"""Keeping an eye on the serving build's files: which builds were found damaged, checking one against its
manifest (in the background, one check per build at a time, a caller waiting a bounded time), and noticing
when its files change on disk.

A build's files never change once ``kb build`` wrote them, but the lexical arrays are memory-mapped: bytes
overwritten on disk reach the serving build at once, and its searches fail (or score wrongly, without an error).
The service (:class:`kb.app.service.KBService`) checks its build when a search fails and when the watcher sees a
file's stamp change, and falls back to the newest intact build when the check finds damage.

Not covered: a memory-mapped file cut short kills the process (SIGBUS) on the next read of the lost pages,
before Python sees anything; a restarted server then starts on the newest intact build.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.index.store import verify_build

if TYPE_CHECKING:
    from kb.index.store import LoadedIndex

RECHECK_SECONDS = 60.0  # a build found intact is not hashed again for a failed search before this (same stamps)
Stamps = tuple[tuple[str, int, int, int], ...]


def file_stamps(build_dir: Path, manifest: dict[str, Any]) -> Stamps:
    """(name, size, mtime, inode) of each file the manifest lists; a missing file stamps as -1s."""
    stamps = []
    for name in sorted(manifest.get("files") or {}):
        try:
            st = (build_dir / name).stat()
            stamps.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            stamps.append((name, -1, -1, -1))
    return tuple(stamps)


class BuildGuard:
    """Damaged builds (id -> why, with paths: for the log and the admin, never the public) and the checks.

    ``on_damage(index, why)`` is called (from the checking thread) when a check finds ``index``'s files damaged.
    """

    def __init__(self, on_damage: Callable[[LoadedIndex, str], None]) -> None:
        self.damaged: dict[str, str] = {}
        self._on_damage = on_damage
        self._lock = threading.Lock()
        self._checks: dict[Path, threading.Thread] = {}
        self._stamps: dict[Path, Stamps] = {}  # as loaded, or as last found intact
        self._intact_at: dict[Path, float] = {}

    def loaded(self, index: LoadedIndex) -> None:
        """A build was loaded (and so checked against its manifest): remember its files' stamps."""
        with self._lock:
            self._stamps = {index.path: file_stamps(index.path, index.manifest)}  # only the live build is watched
            self._intact_at = {index.path: time.monotonic()}

    def changed(self, index: LoadedIndex) -> bool:
        """Whether a file of the build changed on disk since it was loaded (or last found intact)."""
        with self._lock:
            known = self._stamps.get(index.path)
        return known is not None and known != file_stamps(index.path, index.manifest)

    def check(self, index: LoadedIndex, wait: float | None, *, always: bool = False) -> None:
        """Check ``index``'s files against its manifest in a background thread and wait for it at most ``wait``
        seconds (``None``: to the end). A build found intact within :data:`RECHECK_SECONDS` with the same stamps
        is not hashed again unless ``always``."""
        with self._lock:
            if index.build_id in self.damaged:
                return
            recent = self._intact_at.get(index.path)
            if (not always and recent is not None and time.monotonic() - recent < RECHECK_SECONDS
                    and self._stamps.get(index.path) == file_stamps(index.path, index.manifest)):
                return
            thread = self._checks.get(index.path)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._verify, args=(index,), name="kb-build-check", daemon=True)
                self._checks[index.path] = thread
                thread.start()
        thread.join(wait)

    def _verify(self, index: LoadedIndex) -> None:
        stamps = file_stamps(index.path, index.manifest)  # before hashing: a write during the check shows next time
        why = verify_build(index.path)
        with self._lock:
            self._checks.pop(index.path, None)
            if why is None:
                self._stamps[index.path] = stamps
                self._intact_at[index.path] = time.monotonic()
                return
            self.damaged[index.build_id] = why
        self._on_damage(index, why)
