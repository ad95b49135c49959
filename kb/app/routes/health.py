"""``/health``: what is serving, how long it took to load, and what is wrong: a failed reload, a damaged build (an
older intact one serving instead), an unusable feedback store (probed every few seconds, not only on writes)."""

from __future__ import annotations

from fastapi import APIRouter

from kb import __version__
from kb.app.deps import ServiceDep
from kb.app.schemas import HealthOut

router = APIRouter(tags=["service"])


@router.get("/health", response_model=HealthOut)
def health(svc: ServiceDep) -> HealthOut:
    index = svc.index
    problems = svc.problems()
    return HealthOut(
        status="degraded" if problems else "ok", version=__version__, model=index.model_id,
        articles=len(index.articles), entries=len(index.entries), build_time=index.build_time,
        build=index.build_id, load_ms=round(index.load_ms, 1), problems=problems,
        damaged=sorted(svc.guard.damaged, reverse=True),
    )
