"""Start ``kb serve`` as a real uvicorn process on 127.0.0.1 for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(index_dir: Path, timeout: float = 120.0, **env: str) -> Iterator[str]:
    """Yield the base URL of a real ``kb serve`` process; stop it afterwards."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env, "KB_INDEX_DIR": str(index_dir), "KB_PORT": str(port)}
    log = (index_dir.parent / f"server-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--log-level", "warning"], cwd=str(ROOT),
                            env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.flush()
                raise RuntimeError(f"kb serve exited with {proc.returncode}: "
                                   f"{Path(log.name).read_text(encoding='utf-8')[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kb serve did not answer within {timeout:.0f}s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
