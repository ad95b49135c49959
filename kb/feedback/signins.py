"""The editors' sign-in state every replica must agree on: sessions signed out before they expire (by nonce,
kept until then) and wrong admin keys per client (a salted hash) for the sign-in throttle."""

from __future__ import annotations

import time
from typing import Any

from kb.feedback.engine import OnEngine, clean_text


class SignIns(OnEngine):
    """Sign-outs and wrong keys, shared through the engine."""

    def sign_out(self, nonce: str, expires: int) -> None:
        """Refuse an admin session from now on, in every replica (kept until it would have expired)."""
        now = int(time.time())

        def work(db: Any) -> None:
            db.execute(self._sql("DELETE FROM admin_signouts WHERE expires <= ?"), (now,))
            db.execute(self._sql("INSERT INTO admin_signouts (nonce, expires) VALUES (?, ?) "
                                 "ON CONFLICT (nonce) DO NOTHING"), (clean_text(nonce, 100), int(expires)))

        self._run(work)

    def signed_out(self, nonce: str) -> bool:
        """Whether any replica signed this session out (False while the store is unusable)."""
        return bool(self._read("SELECT 1 FROM admin_signouts WHERE nonce = ? AND expires > ?",
                               (clean_text(nonce, 100), int(time.time()))))

    def sign_in_failed(self, client: str, window: float) -> None:
        """Count a wrong admin key from ``client``; forget those older than ``window`` seconds."""
        now = time.time()

        def work(db: Any) -> None:
            db.execute(self._sql("DELETE FROM admin_failures WHERE at < ?"), (now - window,))
            db.execute(self._sql("INSERT INTO admin_failures (client, at) VALUES (?, ?)"),
                       (self._client(db, client), now))

        self._run(work)

    def sign_in_failures(self, client: str, window: float) -> int:
        """Wrong admin keys from ``client`` in the last ``window`` seconds, in every replica."""
        def work(db: Any) -> int:
            return int(db.execute(self._sql("SELECT COUNT(*) FROM admin_failures WHERE client = ? AND at >= ?"),
                                  (self._client(db, client), time.time() - window)).fetchone()[0])

        return self._run(work)
