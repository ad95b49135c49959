"""Sign-outs and wrong keys while the store is away (SQLite made unusable, then repaired; PostgreSQL stopped,
then started: tests/feedback/test_postgres.py): a sign-out is written when the store is back, and the key
throttle counts in the process meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kb.feedback.keyfails import KeyFailures, KeyThrottle
from kb.feedback.signins import SignIns
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME


def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for ``condition()`` (a retry runs in the background); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true"
        time.sleep(0.02)


def _blocked(tmp_path: Path) -> Path:
    """A file where the store's folder should be: the store is unusable until it is removed."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    return blocker


def test_a_sign_out_during_an_outage_is_written_when_the_store_is_back(tmp_path: Path) -> None:
    blocker = _blocked(tmp_path)
    here = SignIns(SQLiteEngine(blocker / FILENAME), retry_every=0.05)
    there = SignIns(SQLiteEngine(blocker / FILENAME))  # another replica on the same store
    expires = int(time.time()) + 3600
    assert not here.sign_out("n1", expires)  # not written...
    assert here.signed_out("n1")  # ...but refused here at once
    assert not there.signed_out("n1")  # the other replica cannot know yet
    blocker.unlink()  # the store comes back; nobody asks this replica anything
    until(lambda: not here.pending)  # the retry wrote it
    assert there.signed_out("n1")
    here.close()


def test_the_next_look_up_writes_pending_sign_outs(tmp_path: Path) -> None:
    blocker = _blocked(tmp_path)
    here = SignIns(SQLiteEngine(blocker / FILENAME), retry_every=3600)  # no retry within the test
    there = SignIns(SQLiteEngine(blocker / FILENAME))
    assert not here.sign_out("n1", int(time.time()) + 3600)
    here.sign_out("n-gone", int(time.time()) - 1)  # expired meanwhile: nothing to write
    assert list(here.pending) == ["n1"]
    blocker.unlink()
    assert not here.signed_out("n2")  # any session looked up here: the store is back, the sign-out goes out
    assert here.pending == {} and there.signed_out("n1") and not there.signed_out("n-gone")
    here.close()


def test_the_key_throttle_counts_in_the_process_while_the_store_is_away(tmp_path: Path) -> None:
    blocker = _blocked(tmp_path)
    store = KeyFailures(SQLiteEngine(blocker / FILENAME))
    clock = [1_000_000.0]
    throttle = KeyThrottle(3, 60.0, clock=lambda: clock[0])
    for _ in range(3):
        assert throttle.fail("c", store) is None  # never raises
    assert throttle.wait("c", store) == 60  # never unlimited
    blocker.unlink()
    assert throttle.wait("c", store) == 60  # the store, back, does not know them: this process still does
    assert throttle.wait("d", store) is None
    clock[0] += 60
    assert throttle.wait("c", store) is None
