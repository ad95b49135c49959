"""The running service: the model loaded once, and the live index + searcher, swapped atomically on reload."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kb.errors import KBError
from kb.feedback.connect import open_engine
from kb.feedback.evidence import Evidence
from kb.feedback.fixjobs import FixJobs
from kb.feedback.signins import SignIns
from kb.feedback.store import FeedbackStore
from kb.index.store import current_path
from kb.pipeline import open_build
from kb.search.searcher import QueryVectors

if TYPE_CHECKING:
    from kb.index.store import LoadedIndex
    from kb.model.embed import Embedder
    from kb.search.searcher import QueryVectors, Searcher
    from kb.settings import Settings

T = TypeVar("T")
PRUNE_EVERY = 3600.0  # seconds between deletions of search-log rows older than KB_LOG_DAYS


@dataclass
class Live:
    """One loaded build and everything derived from it; replaced whole, never mutated in place."""

    searcher: Searcher
    derived: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class KBService:
    """Holds the embedder for the life of the process and the current :class:`Live` build.

    Requests read ``service.live`` once and use that object to the end, so a reload in between never
    mixes two builds within one request.
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        engine = open_engine(settings)  # SQLite beside the builds, or PostgreSQL shared by replicas
        self.store = FeedbackStore(engine)  # votes, reports, the search log
        self.signins = SignIns(engine)  # editors' sign-outs and wrong keys
        self.fixjobs = FixJobs(engine)  # one-click fixes' status
        self.evidence = Evidence(engine)  # which article answered which wording, for learning
        self.embedder = embedder
        # query vectors outlive builds: a reload keeps them, the model is the same
        self.queries: QueryVectors = QueryVectors(embedder)
        self._reload_lock = threading.Lock()
        self.reload_listeners: list[Callable[[str], None]] = []  # get "ok" or "error" after each reload attempt
        self.live = self._load()
        self.last_reload_error: str | None = None
        # Kiwi loads (~1.2 s) now, not on the first customer's query. Not in a thread beside serving: its loader
        # holds Python's GIL (measured: other threads stalled ~1 s of its 1.2 s), so serving would wait anyway;
        # this way a service that answers /health is ready for queries.
        self.live.searcher.query_terms("배송 조회")

    def _load(self) -> Live:
        return Live(open_build(self.settings.index_dir, self.queries))

    @property
    def index(self) -> LoadedIndex:
        return self.live.searcher.index

    @property
    def searcher(self) -> Searcher:
        return self.live.searcher

    def derived(self, name: str, factory: Callable[[LoadedIndex], T]) -> T:
        """A value computed once per loaded build (e.g. the suggestion trie), dropped on reload."""
        live = self.live
        with live.lock:
            if name not in live.derived:
                live.derived[name] = factory(live.searcher.index)
            return live.derived[name]  # type: ignore[no-any-return]

    def current_build(self) -> Path | None:
        """The build folder the index root points at now (may be newer than the one serving)."""

        link = self.settings.index_dir / "current"
        return current_path(self.settings.index_dir) if link.exists() else None

    def reload(self, force: bool = False) -> bool:
        """Load the current build if it differs from the live one; return whether it switched.

        A build that fails to load leaves the live one serving and raises the error.
        """
        with self._reload_lock:
            target = self.current_build()
            if not force and target is not None and target == self.index.path:
                return False
            try:
                live = self._load()
            except KBError as e:
                self.last_reload_error = str(e)
                self._tell("error")
                raise
            self.live = live  # one reference assignment: atomic for readers
            self.last_reload_error = None
            self._tell("ok")
            return True

    def problems(self) -> list[str]:
        """Why the service is degraded (empty when all is well): a failed reload, an unusable store."""
        out = []
        if self.last_reload_error:
            out.append("the newest build failed to load; still serving the previous one")
        problem = self.store.check()
        if problem:
            out.append(problem)
        return out

    def close(self) -> None:
        self.store.close()

    def _tell(self, result: str) -> None:
        for listener in self.reload_listeners:
            listener(result)


class Watcher:
    """Polls the index root and reloads the service when a new build is switched in."""

    def __init__(self, service: KBService, interval: float = 2.0) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kb-index-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        last_prune = 0.0
        while not self._stop.wait(self.interval):
            if time.monotonic() - last_prune > PRUNE_EVERY:  # the search log keeps KB_LOG_DAYS days
                last_prune = time.monotonic()
                try:
                    self.service.store.prune(self.service.settings.log_days)
                except KBError:
                    pass  # the store says why in /health; next time
            try:
                self.service.reload()
            except KBError:
                pass  # kept in service.last_reload_error and shown by /health; the old build keeps serving
            except OSError:
                pass  # a build folder vanished while we looked: try again next tick
