"""Writing a model folder into the cache so that no reader ever sees half of it.

A conversion or an export is written into a temp folder beside its target and renamed over it at the end: the
rename is atomic, an incomplete leftover is replaced, a complete folder written meanwhile by another process is kept,
and temp folders of killed runs are swept up later.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.errors import ModelError

_STALE_SECONDS = 3600  # leftover temp folders of killed conversions older than this are removed


@contextmanager
def staged_folder(target: Path, complete: Callable[[Path], bool], need: str) -> Iterator[Path]:
    """Yield a fresh temp folder beside target; when the block ends without error, rename it to target.

    A reader never sees a half-written folder: the rename is atomic, an incomplete leftover at target is
    replaced, and a complete one written meanwhile by a concurrent process is kept. ``need`` (e.g. "about
    0.5 GB") goes into the disk-space hint of the error message.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache folder {target.parent}: {exc.strerror or exc}; "
            "point the kb cache directory at a writable place"
        ) from exc
    try:
        yield tmp
        _make_readable(tmp)
        _install(tmp, target, complete)
    except OSError as exc:
        raise ModelError(
            f"cannot write the converted model into {target.parent}: {exc.strerror or exc}; "
            f"free disk space ({need} is needed) or point the kb cache directory elsewhere"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _make_readable(folder: Path) -> None:
    """mkdtemp makes 0700 folders and safetensors may write 0600 files: open them up like a normal cache."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp folders that conversions killed midway left beside target (only old ones)."""
    import time

    cutoff = time.time() - _STALE_SECONDS
    for pattern in (f".{target.name}.*.tmp", f".{target.name}.*.old"):
        for leftover in target.parent.glob(pattern):
            try:
                if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                pass


def _install(tmp: Path, target: Path, complete: Callable[[Path], bool]) -> None:
    """Move the finished tmp folder to target atomically; if another process won, keep theirs."""
    for _ in range(3):
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if complete(target):
                return  # a concurrent first use finished first; tmp is discarded by the caller
            if not target.exists():
                raise
        # target is an incomplete leftover (e.g. an older converter version): move it aside
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        try:
            os.rename(target, trash / "old")
        except OSError:
            pass  # someone else moved it; retry
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, target)
