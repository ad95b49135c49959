"""The status of the editors' one-click fixes (:mod:`kb.app.fixes`), shared by replicas: any replica
answers for a fix another one started, and the database lets one fix at a time hold the articles folder,
whichever replica or worker asks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from kb.feedback.engine import OnEngine, StoreUnavailable, json_list, storable

FIX_STATES = ("starting", "running", "built", "failed")  # starting: the edit is being written (not shown)
FIX_TIMEOUT = 30 * 60.0  # seconds a fix may hold the articles folder; then its process is taken for dead
START_TIMEOUT = 60.0  # seconds a fix may spend writing its edit (milliseconds, normally)
FIXES_KEPT = 50  # the newest fixes' statuses are kept; older ones are deleted when a fix starts


@dataclass(frozen=True)
class FixStatus:
    """Where a fix is: running, built (live), or failed (with lint's or the content tests' messages)."""

    id: str
    kind: str  # add_question | new_article
    article_id: str
    file: str  # relative to the articles folder
    added: tuple[str, ...]
    state: str = "running"  # running | built | failed (starting: inside the store only)
    messages: tuple[str, ...] = ()
    reverted: bool = False
    started: float = field(default_factory=time.time)  # Unix time
    finished: float | None = None

    @property
    def busy(self) -> bool:
        """Whether the fix holds the articles folder (one fix at a time does)."""
        return self.state in ("starting", "running")


def _timeout(state: str) -> float:
    return START_TIMEOUT if state == "starting" else FIX_TIMEOUT


def _timed_out_messages(state: str) -> tuple[str, ...]:
    what = "write its edit" if state == "starting" else "finish its build"
    return (f"the fix did not {what} within {_timeout(state) / 60:g} min: the server process running it "
            "probably stopped. Check the article file, then run `kb build --check` or start the fix again",)


class FixJobs(OnEngine):
    """Fix statuses on an engine."""

    _FIX_COLUMNS = "kind, article_id, file, added, state, messages, reverted, started, finished, busy"

    def _fix_values(self, s: FixStatus) -> tuple[Any, ...]:
        if s.state not in FIX_STATES:
            raise ValueError(f"state must be one of {', '.join(FIX_STATES)}, got {s.state!r}")
        return (storable(s.kind), storable(s.article_id), storable(s.file), json_list(s.added), s.state,
                json_list(s.messages), 1 if s.reverted else 0, float(s.started),
                None if s.finished is None else float(s.finished), 1 if s.busy else None)

    def add_fix(self, status: FixStatus) -> bool:
        """Record a fix that takes the articles folder (state ``starting`` or ``running``); False, and nothing
        recorded, while another fix holds it, in this process or any other on the same database.

        In the same transaction, fixes whose process died (holding the folder past their timeout) are marked
        failed, and only the newest :data:`FIXES_KEPT` fixes are kept."""
        if not status.busy:
            raise ValueError("a new fix is starting or running")
        now = time.time()

        def work(db: Any) -> bool:
            for state in ("starting", "running"):
                db.execute(self._sql("UPDATE fixes SET state = 'failed', busy = NULL, finished = ?, messages = ? "
                                     "WHERE busy = 1 AND state = ? AND started < ?"),
                           (now, json_list(_timed_out_messages(state)), state,
                            now - _timeout(state)))
            # the unique `busy` column refuses a second fix: the database decides, whoever asks at the same time
            row = db.execute(self._sql(f"INSERT INTO fixes (job, {self._FIX_COLUMNS}) VALUES "
                                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"),
                             (storable(status.id), *self._fix_values(status))).fetchone()
            if row is None:
                return False
            db.execute(self._sql("DELETE FROM fixes WHERE busy IS NULL AND id NOT IN "
                                 "(SELECT id FROM fixes ORDER BY id DESC LIMIT ?)"), (FIXES_KEPT,))
            return True

        return self._run(work)

    def update_fix(self, status: FixStatus) -> bool:
        """Write a fix's new status; False when there is no such fix. A built or failed fix lets go of the
        articles folder; one still holding it is updated only while the folder is its own (not timed out)."""
        sql = (f"UPDATE fixes SET ({self._FIX_COLUMNS}) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE job = ?"
               + (" AND busy = 1" if status.busy else ""))
        values = (*self._fix_values(status), status.id)
        return self._run(lambda db: bool(db.execute(self._sql(sql), values).rowcount > 0))

    def discard_fix(self, job_id: str) -> None:
        """Forget a fix that never wrote its edit (it was refused), letting go of the articles folder."""
        self._run(lambda db: db.execute(self._sql("DELETE FROM fixes WHERE job = ? AND state = 'starting'"),
                                        (job_id,)))

    def _last_fix(self, where: str, params: tuple[Any, ...] = ()) -> FixStatus | None:
        rows = self._rows(f"SELECT job, {self._FIX_COLUMNS} FROM fixes WHERE {where} ORDER BY id DESC LIMIT 1",
                          params)
        if not rows:
            return None
        job, kind, article_id, file, added, state, messages, reverted, started, finished, _ = rows[0]
        status = FixStatus(str(job), str(kind), str(article_id), str(file), tuple(json.loads(added)), str(state),
                           tuple(json.loads(messages)), bool(reverted), float(started),
                           None if finished is None else float(finished))
        if status.busy and time.time() - status.started > _timeout(status.state):
            # its process died: failed, whether the next fix to start has written that down yet or not
            status = replace(status, state="failed", messages=_timed_out_messages(status.state),
                             finished=status.started + _timeout(status.state))
        return status

    def fix(self, job_id: str) -> FixStatus | None:
        """The fix ``job_id`` (None when unknown, or long gone); raises :class:`StoreUnavailable`."""
        return self._last_fix("job = ?", (job_id,))

    def running_fix(self) -> FixStatus | None:
        """The fix holding the articles folder now, if any (one that timed out holds nothing)."""
        status = self._last_fix("busy = 1")
        return status if status is not None and status.busy else None

    def latest_fix(self) -> FixStatus | None:
        """The newest fix that wrote its edit, for the insight page (None while the store is unusable)."""
        try:
            return self._last_fix("state <> 'starting'")
        except StoreUnavailable:
            return None
