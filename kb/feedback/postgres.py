"""The shared engine: PostgreSQL through psycopg 3 and a connection pool, for several ``kb serve`` replicas.

A replica that cannot reach the database keeps serving searches: the pool opens in the background, the
schema is migrated on the first connection that works, writes raise :class:`StoreUnavailable` (HTTP 503)
and reads come back empty until the database is back; connections are checked before use, so a
restarted database is picked up by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kb.errors import KBError
from kb.feedback import schema as sch
from kb.feedback.engine import Engine, StoreUnavailable, T, log

CONNECT_TIMEOUT = 3  # seconds to open a connection: a request waiting on a dead database gives up soon
POOL_TIMEOUT = 3.0  # seconds to wait for a free connection
POOL_MAX = 4  # per replica: requests write one short row each
RETRY_AFTER = 5.0  # seconds after a failure during which requests fail at once instead of waiting POOL_TIMEOUT
_LOCK_KEY = 0x6B62  # advisory lock taken while migrating, so replicas starting together migrate once


class PostgresEngine(Engine):
    dialect = sch.POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - depends on the install
            raise KBError("KB_DATABASE_URL needs psycopg 3: pip install 'psycopg[binary]' psycopg-pool") from None
        self._errors: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
        from psycopg_pool import PoolTimeout

        self._errors += (PoolTimeout,)
        self._pool = ConnectionPool(url, min_size=1, max_size=POOL_MAX, open=False, timeout=POOL_TIMEOUT,
                                    check=ConnectionPool.check_connection, name="kb-feedback",
                                    kwargs={"connect_timeout": CONNECT_TIMEOUT, "application_name": "kb"})
        self._pool.open(wait=False)  # never block start-up on the database
        self._ready = False
        self._lock = threading.Lock()
        self._down_until = 0.0

    def describe(self) -> str:
        return "PostgreSQL"

    def sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def close(self) -> None:
        self._pool.close()

    def _migrate(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute("CREATE TABLE IF NOT EXISTS kb_schema (version INTEGER NOT NULL, applied TEXT NOT NULL)")
            version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM kb_schema").fetchone()[0])
            for number, statements in sch.migrations(self.dialect):
                if number > version:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute("INSERT INTO kb_schema VALUES (%s, now()::text)", (number,))

    def run(self, work: Callable[[Any], T]) -> T:
        if time.monotonic() < self._down_until:  # known down: answer now, the pool reconnects meanwhile
            raise StoreUnavailable(self.problem or "database unreachable")
        try:
            with self._pool.connection() as conn:
                if not self._ready:
                    with self._lock:
                        if not self._ready:
                            self._migrate(conn)
                            self._ready = True
                with conn.transaction():
                    result = work(conn)
        except self._errors as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.problem = f"database unreachable: {first}"
            self._down_until = time.monotonic() + RETRY_AFTER
            log.warning("feedback store: %s", self.problem)
            raise StoreUnavailable(self.problem) from None
        self.problem = None
        return result

    def import_rows(self, rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
        """Copy rows exported from another store; rows already here (same day, client and target) are kept."""
        def work(conn: Any) -> dict[str, int]:
            for key, value in rows.get("kb_meta", []):
                conn.execute("INSERT INTO kb_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                             (key, value))
            done = {}
            for table, columns in sch.EXPORTED.items():
                sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
                       "ON CONFLICT DO NOTHING")
                done[table] = sum(conn.execute(sql, r).rowcount for r in rows.get(table, []))
            return done

        return self.run(work)
