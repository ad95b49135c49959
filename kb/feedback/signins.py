"""The editors' sessions every replica must agree on: sessions signed out before they expire (by nonce, kept
until then). Wrong keys are counted by :mod:`kb.feedback.keyfails`.

A sign-out while the store is away is kept here and written when the store is back: on the next look-up of
a session, or by a retry every :data:`RETRY_EVERY` seconds, whichever comes first. Meanwhile this process
refuses the session (the others cannot know of it until then).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kb.feedback.engine import Engine, OnEngine, StoreUnavailable, clean_text

log = logging.getLogger("kb.feedback")
RETRY_EVERY = 2.0  # seconds between attempts to write sign-outs made while the store was away


class SignIns(OnEngine):
    """Sign-outs, shared through the engine; those not written yet wait in :attr:`pending`."""

    def __init__(self, engine: Engine, retry_every: float = RETRY_EVERY) -> None:
        super().__init__(engine)
        self.retry_every = retry_every
        self.pending: dict[str, int] = {}  # nonce -> expires, signed out here but not written yet
        self._lock = threading.Lock()
        self._retrying = False
        self._closed = threading.Event()

    def sign_out(self, nonce: str, expires: int) -> bool:
        """Refuse an admin session from now on, in every replica (kept until it would have expired). Returns
        whether it is written; if not (the store is away), it is written as soon as the store is back."""
        nonce = clean_text(nonce, 100)
        with self._lock:
            self.pending[nonce] = int(expires)
        self.flush()
        with self._lock:
            return nonce not in self.pending

    def flush(self) -> bool:
        """Write the pending sign-outs; whether none is left (a failure schedules a retry, never raises)."""
        now = int(time.time())
        with self._lock:
            self.pending = {n: e for n, e in self.pending.items() if e > now}  # expired: refused anyway
            batch = dict(self.pending)
        if not batch:
            return True

        def work(db: Any) -> None:
            db.execute(self._sql("DELETE FROM admin_signouts WHERE expires <= ?"), (now,))
            for nonce, expires in batch.items():
                db.execute(self._sql("INSERT INTO admin_signouts (nonce, expires) VALUES (?, ?) "
                                     "ON CONFLICT (nonce) DO NOTHING"), (nonce, expires))

        try:
            self._run(work)
        except StoreUnavailable:
            self._retry_later()
            return False
        with self._lock:
            for nonce in batch:
                self.pending.pop(nonce, None)
            return not self.pending

    def signed_out(self, nonce: str) -> bool:
        """Whether any replica signed this session out (as far as known while the store is unusable)."""
        nonce = clean_text(nonce, 100)
        with self._lock:
            if self.pending.get(nonce, 0) > time.time():
                return True
            waiting = bool(self.pending)
        if waiting:
            self.flush()  # the store may be back: a sign-out here reaches the other replicas now
        return bool(self._read("SELECT 1 FROM admin_signouts WHERE nonce = ? AND expires > ?",
                               (nonce, int(time.time()))))

    def close(self) -> None:
        self._closed.set()
        super().close()

    def _retry_later(self) -> None:
        with self._lock:
            if self._retrying or self._closed.is_set():
                return
            self._retrying = True
        threading.Thread(target=self._retry, name="kb-signout-retry", daemon=True).start()

    def _retry(self) -> None:
        while not self._closed.wait(self.retry_every):
            try:
                done = self.flush()
            except Exception:  # noqa: BLE001 - a retry thread must not die with sign-outs still pending
                log.exception("writing pending sign-outs failed")
                done = False
            with self._lock:
                if done and not self.pending:
                    self._retrying = False
                    return
        with self._lock:
            self._retrying = False
