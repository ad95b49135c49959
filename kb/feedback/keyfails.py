"""One throttle for every key kb accepts (the admin key, as a bearer or at sign-in; the agent key; the metrics
key): after ``limit`` wrong keys from one client within ``window`` seconds, every key from that client is
refused, the right one too, until the window has passed; otherwise guessing would go on and the right guess
would still show. Refused attempts are not counted, so the lock ends ``window`` seconds after the wrong key
that set it and a client keeps at most ``limit`` rows.

The count lives in the feedback store (:class:`KeyFailures`, a salted hash per client), so wrong keys spread
over replicas add up. :class:`KeyThrottle` also counts in this process, which is what holds while the store
is away: never unlimited, never an error.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from kb.feedback.engine import OnEngine, StoreUnavailable

LOCAL_CLIENTS = 10000  # clients this process remembers while the store is away; the oldest are forgotten


class KeyFailures(OnEngine):
    """Wrong keys per client, shared through the engine (times are Unix seconds, from the caller's clock)."""

    def recent(self, client: str, now: float, window: float, limit: int) -> list[float]:
        """The times of ``client``'s newest ``limit`` wrong keys within ``window`` seconds, newest first;
        none while the store is unusable."""
        def work(db: Any) -> list[float]:
            return self._newest(db, self._client(db, client), now, window, limit)

        try:
            return self._run(work)
        except StoreUnavailable:
            return []

    def fail(self, client: str, now: float, window: float, limit: int) -> list[float]:
        """Count a wrong key from ``client`` unless ``limit`` are counted already (a locked client's attempts are
        refused unread); forget those older than ``window``. Returns :meth:`recent` as it was before; raises
        :class:`StoreUnavailable` while the store is unusable."""
        def work(db: Any) -> list[float]:
            hashed = self._client(db, client)
            before = self._newest(db, hashed, now, window, limit)
            db.execute(self._sql("DELETE FROM key_failures WHERE at <= ?"), (now - window,))
            if len(before) < limit:
                db.execute(self._sql("INSERT INTO key_failures (client, at) VALUES (?, ?)"), (hashed, now))
            return before

        return self._run(work)

    def _newest(self, db: Any, hashed: str, now: float, window: float, limit: int) -> list[float]:
        rows = db.execute(self._sql("SELECT at FROM key_failures WHERE client = ? AND at > ? ORDER BY at DESC "
                                    "LIMIT ?"), (hashed, now - window, max(1, int(limit)))).fetchall()
        return [float(at) for (at,) in rows]


class KeyThrottle:
    """The rule, for one process: :meth:`wait` before trusting a key, :meth:`fail` after a wrong one.

    ``clock`` gives Unix seconds (injectable for tests); the store, when given, is asked too and the longer of
    the two locks holds.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = max(1, int(limit))
        self.window = float(window)
        self.clock = clock
        self._local: OrderedDict[str, list[float]] = OrderedDict()  # client -> its newest wrong keys, oldest first
        self._lock = threading.Lock()

    def _seconds_left(self, newest_first: list[float], now: float) -> int | None:
        """Seconds until the lock set by these wrong keys ends, or None when they set none."""
        if len(newest_first) < self.limit:
            return None
        left = newest_first[self.limit - 1] + self.window - now
        return max(1, math.ceil(left)) if left > 0 else None

    def _local_recent(self, client: str, now: float) -> list[float]:
        with self._lock:
            times = [t for t in self._local.get(client, ()) if t > now - self.window]
            if times:
                self._local[client] = times
            else:
                self._local.pop(client, None)
            return times[::-1]

    def wait(self, client: str, store: KeyFailures | None = None) -> int | None:
        """Seconds ``client`` must wait before any key of theirs is read again (None: go ahead)."""
        now = self.clock()
        shared = store.recent(client, now, self.window, self.limit) if store is not None else []
        waits = [w for w in (self._seconds_left(self._local_recent(client, now), now),
                             self._seconds_left(shared, now)) if w is not None]
        return max(waits, default=None)

    def fail(self, client: str, store: KeyFailures | None = None) -> int | None:
        """Count a wrong key from ``client``; returns :meth:`wait` as it was before this one (so a caller that
        compared the key first still refuses a locked client)."""
        now = self.clock()
        local = self._local_recent(client, now)
        shared: list[float] = []
        if store is not None:
            with contextlib.suppress(StoreUnavailable):  # the count in this process holds meanwhile
                shared = store.fail(client, now, self.window, self.limit)
        waits = [w for w in (self._seconds_left(local, now), self._seconds_left(shared, now)) if w is not None]
        if len(local) < self.limit:
            with self._lock:
                self._local.setdefault(client, []).append(now)
                self._local.move_to_end(client)
                while len(self._local) > LOCAL_CLIENTS:
                    self._local.popitem(last=False)
        return max(waits, default=None)
