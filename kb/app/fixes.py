"""One-click fixes for the gaps editors see: an edit of the articles (:mod:`kb.articles.edit`), then the
normal gated build (lint -> build -> content tests -> switch) in the background.

A fix never bypasses lint or the content tests. When the gated build fails, the live index keeps serving and
the edit is reverted (the file gets its exact old bytes back, a draft is removed), but only if the file still
holds what the fix wrote: a one-click change must not leave the articles folder in a state that breaks the
next editor's ``kb build``. The failure's messages (lint's, or the broken content tests) are reported so the
change can be made by hand.

A fix's status is kept in the shared store (:mod:`kb.feedback.fixjobs`), not in the process that runs it: the
editor's page may poll any replica, and one fix at a time runs across all replicas on the same store.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from kb.articles.edit import Edit
from kb.errors import ContentTestsFailed, KBError
from kb.feedback.engine import StoreUnavailable
from kb.feedback.fixjobs import FIX_TIMEOUT, FixJobs, FixStatus
from kb.pipeline import LintFailed, gated_build

if TYPE_CHECKING:
    from kb.model.embed import Embedder
    from kb.settings import Settings

FINISH_RETRY = 5.0  # seconds between attempts to record a fix's outcome while the store is away
log = logging.getLogger("kb.app.fixes")


# --- the build after a fix ------------------------------------------------------------------------


class FixBusy(KBError):
    """Another fix's build is still running."""


class FixRunner:
    """Applies one fix at a time: the edit now, the gated build and the reload in a background thread.

    The fix's status lives in the feedback store, not in this process: any replica or ``kb serve`` worker on
    the same store answers for it, and the store lets one fix at a time hold the articles folder, whichever
    process asks (:meth:`kb.feedback.fixjobs.FixJobs.add_fix`). A fix whose process dies while it holds the
    folder fails after :data:`kb.feedback.fixjobs.FIX_TIMEOUT` and blocks nothing after that."""

    def __init__(self, store: FixJobs) -> None:
        self.store = store

    def get(self, job_id: str) -> FixStatus | None:
        """The fix ``job_id``, started by any process on this store; raises ``StoreUnavailable``."""
        return self.store.fix(job_id)

    def latest(self) -> FixStatus | None:
        return self.store.latest_fix()

    def start(self, settings: Settings, embedder: Embedder, kind: str, make_edit: Callable[[], Edit],
              reload: Callable[[], object]) -> FixStatus:
        """Make the edit (raising :class:`FixError` before anything is written when it cannot be made), then
        build in the background. Raises :class:`FixBusy` while another fix holds the articles folder, and
        ``StoreUnavailable`` (with nothing written) when the store cannot say whether one does."""
        claim = FixStatus(secrets.token_hex(8), kind, "", "", (), state="starting")
        if not self.store.add_fix(claim):  # first: the edit itself must not race another fix's build
            raise FixBusy("another fix is being built; try again when it is done")
        try:
            edit = make_edit()
        except BaseException:
            self._let_go(claim)
            raise
        try:
            file = str(edit.path.relative_to(settings.articles_dir))
        except ValueError:
            file = edit.path.name
        status = replace(claim, article_id=edit.article_id, file=file, added=edit.added, state="running")
        try:
            held = self.store.update_fix(status)
        except StoreUnavailable:
            edit.revert()
            self._let_go(claim)
            raise
        if not held:  # timed out between the two writes (START_TIMEOUT): another fix may hold the folder now
            edit.revert()
            raise FixBusy("the fix took too long to start and was given up; try again")
        threading.Thread(target=self._build, args=(settings, embedder, edit, status, reload),
                         name="kb-fix-build", daemon=True).start()
        return status

    def _let_go(self, claim: FixStatus) -> None:
        try:
            self.store.discard_fix(claim.id)
        except StoreUnavailable:
            pass  # the claim times out by itself (START_TIMEOUT)

    def _build(self, settings: Settings, embedder: Embedder, edit: Edit, status: FixStatus,
               reload: Callable[[], object]) -> None:
        messages: list[str] = []
        try:
            gated_build(settings, embedder, check=True)
        except LintFailed as e:
            messages = [*e.report.errors, str(e)]
        except ContentTestsFailed as e:
            messages = [*(str(f) for f in e.failures), str(e)]
        except Exception as e:  # noqa: BLE001 - a background build must report whatever stopped it
            messages = [str(e) if isinstance(e, KBError) else f"the build stopped: {type(e).__name__}: {e}"]
        if messages:
            reverted = edit.revert()
            messages.append("the edit was reverted" if reverted else
                            "the file was changed meanwhile, so the edit was kept; fix it by hand")
            self._finish(replace(status, state="failed", messages=tuple(messages), reverted=reverted))
            return
        try:
            reload()
        except Exception as e:  # noqa: BLE001
            # the new build is switched in on disk; the watcher keeps trying to load it
            self._finish(replace(status, state="failed", messages=(f"built, but the service did not load it: {e}",)))
            return
        self._finish(replace(status, state="built"))

    def _finish(self, status: FixStatus) -> None:
        """Write the outcome, waiting for the store if it is away (until the fix would time out anyway)."""
        status = replace(status, finished=time.time())
        while True:
            try:
                self.store.update_fix(status)
                return
            except StoreUnavailable as e:
                if time.time() + FINISH_RETRY > status.started + FIX_TIMEOUT:
                    log.warning("the outcome of fix %s (%s) could not be recorded: %s", status.id, status.state, e)
                    return
                time.sleep(FINISH_RETRY)
