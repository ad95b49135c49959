"""A real PostgreSQL for the tests: Debian's server binaries, ``initdb`` into a temporary folder, its own
port on 127.0.0.1. PostgreSQL refuses to run as root, so under root (CI) it runs as the ``postgres`` account
the Debian package creates."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql package "
                       "(apt-get install postgresql)")


class Postgres:
    """One server; ``new_database()`` gives each test its own empty database."""

    def __init__(self, base: Path) -> None:
        self.bin = _bin_dir()
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(base, user="postgres", group="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"kb_test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def rows(self, url: str, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(url) as conn:
            return list(conn.execute(sql).fetchall())


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    # not under pytest's temporary root: that is private to root, and the server runs as `postgres`
    base = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    os.chmod(base, 0o700)
    pg = Postgres(base)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        try:
            pg.stop()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(base, ignore_errors=True)
