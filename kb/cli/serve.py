"""``kb serve``: the API and the help-center page, in one process or several (``--workers``)."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

from kb.cli.common import Subparsers, add_location_args, settings_from
from kb.index.store import pick_build, verified

# One process per this many cores, when neither --workers nor KB_WORKERS says. A process runs one model run per core
# (kb.model.onnx) and ~3 ms of Python per search under one GIL beside each ~20 ms run, so it keeps about 4-6 cores
# busy before its Python is the limit; each more process costs ~450 MiB (its own Kiwi and model weights). On 2 cores
# (scripts/bench_serving.py, fp32, 8 clients): one process 97 searches/s, PSS 660 MiB; two 73/s, 1,258 MiB.
CORES_PER_WORKER = 4

# uvicorn's own limits: idle keep-alive connections close after 5 s, request heads are bounded in size (bodies
# in size and time by kb.app.middleware.BodyLimit). uvicorn has no timeout for slow headers: in public, a
# reverse proxy goes in front (README, Deployment). proxy_headers off: X-Forwarded-For is believed only from
# KB_TRUSTED_PROXIES (kb.app.middleware.client_address), never rewritten by uvicorn first.
SERVER_OPTIONS: dict[str, Any] = {"timeout_keep_alive": 5, "h11_max_incomplete_event_size": 16 * 1024,
                                  "limit_concurrency": 1000, "server_header": False, "proxy_headers": False,
                                  "timeout_graceful_shutdown": 10}


def add_commands(sub: Subparsers) -> None:
    sv = sub.add_parser("serve", help="serve the API and the help-center page")
    add_location_args(sv)
    sv.add_argument("--host", help="KB_HOST, default 127.0.0.1")
    sv.add_argument("--port", type=int, help="KB_PORT, default 8000")
    sv.add_argument("--workers", type=int, help="server processes (KB_WORKERS; default one per "
                                                f"{CORES_PER_WORKER} cores, at least one); each loads the model and "
                                                "the build, and all share the feedback store")
    sv.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    sv.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kb.app.factory import create_app  # fastapi: only when serving

    settings = settings_from(args)
    if args.workers is None and not os.environ.get("KB_WORKERS"):
        settings = replace(settings, workers=default_workers())
    # fail fast, with the fix, before loading the model: no build, or none intact (a damaged current one with an
    # intact older one is no reason to refuse: the service starts on that one and logs a warning)
    pick_build(settings.index_dir, verified)
    options = {"host": settings.host, "port": settings.port, "log_level": args.log_level, **SERVER_OPTIONS}
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # several processes: each worker builds its app from the environment, so hand the settings over there
    for var, name in settings.ENV.items():
        value = getattr(settings, name)
        if value is not None and value != ():
            os.environ[var] = ",".join(value) if isinstance(value, tuple) else str(value)
    uvicorn.run("kb.app.factory:app_from_env", factory=True, workers=settings.workers, **options)
    return 0


def default_workers(cores: int | None = None) -> int:
    """Server processes for a machine with ``cores`` usable cores (default: this process's CPU affinity)."""
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
        except AttributeError:  # pragma: no cover - not on Linux
            cores = os.cpu_count() or 1
    return max(1, cores // CORES_PER_WORKER)
