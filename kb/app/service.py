"""The running service: the model loaded once, and the live index + searcher, swapped atomically on reload.

A damaged build never takes search down: the service starts on the newest intact build when ``current`` is
damaged, and a search that fails on the serving build has its files checked (:mod:`kb.app.guard`) and is
answered from the newest intact build (or refused with a 503), which ``/health`` then names.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kb.app.guard import BuildGuard
from kb.articles.site import Site, load_site
from kb.errors import KBError
from kb.feedback.connect import open_engine
from kb.feedback.evidence import Evidence
from kb.feedback.fixjobs import FixJobs
from kb.feedback.keyfails import KeyFailures
from kb.feedback.signins import SignIns
from kb.feedback.store import FeedbackStore
from kb.index.store import CONFIG, BuildDamaged, current_path, pick_build
from kb.pipeline import open_build
from kb.search.searcher import QueryVectors

if TYPE_CHECKING:
    from kb.index.store import LoadedIndex
    from kb.model.embed import Embedder
    from kb.search.searcher import QueryVectors, Searcher, SearchResponse
    from kb.settings import Settings

T = TypeVar("T")
PRUNE_EVERY = 3600.0  # seconds between deletions of search-log rows older than KB_LOG_DAYS
CHECK_WAIT = 2.0  # seconds a failed search waits for the check of its build (hashing the sample's 1.8 MB: ~4 ms)
log = logging.getLogger("kb.app")


class SearchUnavailable(KBError):
    """A search failed on the serving build and no intact build answered it: 503, never a 500."""


@dataclass
class Live:
    """One loaded build and everything derived from it; replaced whole, never mutated in place."""

    searcher: Searcher
    site: Site = field(default_factory=Site)  # the shop's identity the build carries (config/site.yml)
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
        self.signins = SignIns(engine)  # editors' sign-outs (those made while the store is away: written later)
        self.keyfails = KeyFailures(engine)  # wrong keys per client, for the throttle on every key
        self.fixjobs = FixJobs(engine)  # one-click fixes' status
        self.evidence = Evidence(engine)  # which article answered which wording, for learning
        self.embedder = embedder
        # query vectors outlive builds: a reload keeps them, the model is the same
        self.queries: QueryVectors = QueryVectors(embedder)
        self._reload_lock = threading.Lock()
        self.reload_listeners: list[Callable[[str], None]] = []  # get "ok" or "error" after each reload attempt
        self.guard = BuildGuard(self._fall_back)  # damaged builds, and checking the serving one
        self.live = self._load(fallback=True)
        self.guard.loaded(self.index)
        self.fallback = self._fallback_note()  # why an older build serves (for /health), or None
        if self.fallback:
            log.warning("kb: %s (%s)", self.fallback, "; ".join(self.guard.damaged.values()))
        self.last_reload_error: str | None = None
        self.store.check()  # probed now, in the background: a database that is away shows before any write
        # Kiwi loads (~1.2 s) now, not on the first customer's query. Not in a thread beside serving: its loader
        # holds Python's GIL (measured: other threads stalled ~1 s of its 1.2 s), so serving would wait anyway;
        # this way a service that answers /health is ready for queries.
        self.live.searcher.query_terms("배송 조회")

    def _load(self, fallback: bool = False) -> Live:
        """The current build; with ``fallback``, the newest intact one when it (or a newer one) is damaged."""
        if fallback:
            searcher, damaged = pick_build(self.settings.index_dir, lambda build: open_build(build, self.queries),
                                           skip=self.guard.damaged)
            self.guard.damaged.update(damaged)
        else:
            searcher = open_build(self.settings.index_dir, self.queries)
        # the build's copy, checked by `kb lint` before it was built; a broken one fails the load like any file
        return Live(searcher, load_site(searcher.index.path / CONFIG / "site.yml", check_files=False))

    @property
    def index(self) -> LoadedIndex:
        return self.live.searcher.index

    @property
    def searcher(self) -> Searcher:
        return self.live.searcher

    def search(self, query: str, **options: Any) -> SearchResponse:
        """``searcher.search`` on the live build. A failure that is not the query's (a damaged build on disk) has
        the build checked against its manifest, waiting at most :data:`CHECK_WAIT`, and the search answered from
        the build that replaced it; else :class:`SearchUnavailable` (503)."""
        live = self.live
        for attempt in (1, 2):
            index = live.searcher.index
            try:
                return live.searcher.search(query, **options)
            except KBError:
                raise  # the query's fault (QueryError: 422)
            except Exception as e:  # numpy, bm25s or FAISS reading a damaged memory-mapped file
                log.error("kb: a search failed on build %s (%s: %s); checking its files", index.build_id,
                          type(e).__name__, e)
            if attempt == 1:
                self.guard.check(index, CHECK_WAIT)
                if self.live is live:
                    break
                live = self.live
        if index.build_id in self.guard.damaged:
            raise SearchUnavailable("search is unavailable: the index is damaged and no intact build is left "
                                    "(an editor must run `kb build`)")
        raise SearchUnavailable("search failed on the index, which is being checked: try again in a few seconds")

    def check_serving(self) -> None:
        """Check the serving build's files against its manifest now (an operator's reload); damage falls back."""
        self.guard.check(self.index, None, always=True)

    def watch_build(self) -> None:
        """The watcher's tick: when a file of the serving build changed on disk (a few ``stat`` calls tell),
        check it, as damage may not raise at all (overwritten scores just rank wrongly)."""
        index = self.index
        if index.path.is_dir() and self.guard.changed(index):  # a pruned build is no damage: its maps stay valid
            log.warning("kb: files of the serving build %s changed on disk; checking them", index.build_id)
            self.guard.check(index, None, always=True)

    def _fall_back(self, index: LoadedIndex, why: str) -> None:
        """``index``'s files were found damaged: serve the newest intact build instead, if one is kept."""
        log.error("kb: build %s is damaged: %s", index.build_id, why)
        with self._reload_lock:
            if self.index is not index:
                return  # replaced meanwhile
            try:
                live = self._load(fallback=True)
            except KBError as e:
                self.fallback = f"build {index.build_id} is damaged and no intact build is kept: run `kb build`"
                log.error("kb: %s (%s)", self.fallback, e)
                return
            self.live = live
            self.guard.loaded(live.searcher.index)
            self.fallback = self._fallback_note()
            log.warning("kb: %s", self.fallback or f"now serving {live.searcher.index.build_id}")

    def _fallback_note(self) -> str | None:
        """Why an older build serves: the newer ones found damaged (ids only: /health is public)."""
        serving = self.index.build_id
        newer = sorted((b for b in list(self.guard.damaged) if b > serving), reverse=True)  # checks add to it
        if not newer:
            return None
        return (f"build {', '.join(newer)} {'is' if len(newer) == 1 else 'are'} damaged; "
                f"serving {serving}, the newest intact build")

    @property
    def site(self) -> Site:
        return self.live.site

    def logo_path(self, name: str) -> Path | None:
        """The build's copy of the logo image ``name``, if the site (in any locale) names it."""
        live = self.live
        names = {s.logo_file for s in (live.site, *dict(live.site.locales).values())}
        path = live.searcher.index.path / CONFIG / name
        return path if name in names and path.is_file() else None

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

    def reload(self, force: bool = False, recheck: bool = False) -> bool:
        """Load the current build if it differs from the live one; return whether it switched.

        A build that fails to load leaves the live one serving and raises the error. A current build found
        damaged is not tried again (every watcher tick would hash it) unless ``recheck`` (an operator's reload).
        """
        with self._reload_lock:
            target = self.current_build()
            known = target is not None and target.name in self.guard.damaged
            if known and not recheck:
                return False
            if not force and target is not None and target == self.index.path:
                return False
            try:
                live = self._load()
            except KBError as e:
                if isinstance(e, BuildDamaged) and target is not None:
                    self.guard.damaged[target.name] = str(e)
                if not known:  # a known damaged current is /health's fallback note already
                    self.last_reload_error = str(e)
                self._tell("error")
                raise
            self.guard.damaged.pop(live.searcher.index.build_id, None)
            self.live = live  # one reference assignment: atomic for readers
            self.guard.loaded(live.searcher.index)
            self.fallback = self._fallback_note()
            self.last_reload_error = None
            self._tell("ok")
            return True

    def problems(self) -> list[str]:
        """Why the service is degraded (empty when all is well): a damaged build (an older one serving), a failed
        reload, an unusable store."""
        out = []
        if self.fallback:
            out.append(self.fallback)
        if self.last_reload_error:
            out.append(f"the newest build failed to load; still serving the previous one ({self.index.build_id})")
        problem = self.store.check()
        if problem:
            out.append(problem)
        return out

    def close(self) -> None:
        self.signins.close()  # stops its retries; the engine it shares with the store closes once
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
                self.service.watch_build()
                self.service.reload()
            except KBError:
                pass  # kept in service.last_reload_error and shown by /health; the old build keeps serving
            except OSError:
                pass  # a build folder vanished while we looked: try again next tick
