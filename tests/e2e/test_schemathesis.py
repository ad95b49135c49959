"""Fuzz every documented operation of a real server with schemathesis: no answer may be a 5xx, and every
answer must match the OpenAPI document (status code, content type, body schema).

The server is uvicorn in a thread of this process on a small index with the fake embedder (no model), with
rate limits far above what the run sends. The run is bounded and deterministic: a fixed number of examples
per operation and mode, derandomized, no example database written to disk (~30 s on 2 cores).

schemathesis's own pytest integration (``from_fixture(...).parametrize()``) does not run under pytest 9,
so the operations are driven here through its Python API: one hypothesis run per operation and mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402  (hypothesis comes with schemathesis)
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from kb.app.factory import create_app  # noqa: E402
from kb.settings import Settings  # noqa: E402
from tests.support.fakes import FakeEmbedder  # noqa: E402
from tests.support.live import serve  # noqa: E402

EXAMPLES = 30  # per operation and mode
GENEROUS = "100000/second"
PHASES = (Phase.explicit, Phase.generate, Phase.shrink)  # no Phase.reuse: nothing read from or written to disk

ADMIN_KEY = "fuzz-admin-key"
# what the schema allows is accepted (no 422 for it), what it refuses is refused (`"confidence": false` was taken)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          positive_data_acceptance, negative_data_rejection]


def _fuzz_settings(small_settings: Settings) -> Settings:
    return replace(small_settings, rate_search=GENEROUS, rate_suggest=GENEROUS, rate_reports=GENEROUS,
                   admin_key=ADMIN_KEY)


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps caches (Unicode tables, constants) in ./.hypothesis even without an example database:
    keep them in a temporary folder instead."""
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


@pytest.fixture
def live_url(small_settings: Settings) -> Iterator[str]:
    with serve(create_app(_fuzz_settings(small_settings), embedder=FakeEmbedder(), watch=False)) as base:
        yield base


def _config(admin: bool = False) -> Any:
    """schemathesis's settings: a body refused whole by the middleware (408, 413; documented) is rejected too."""
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig()
    project = config.projects.override
    rejection = project.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "408", "413"]
    if admin:
        project.update(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    return config


def _auth(operation: Any) -> dict[str, str]:
    """The admin key on /admin operations (signed in, they are fuzzed for real, not only refused with 401); none
    elsewhere (a wrong bearer key on a public route is refused as a wrong agent key)."""
    return {"Authorization": f"Bearer {ADMIN_KEY}"} if operation.path.startswith("/admin") else {}


def _fuzz(operation: Any, mode: GenerationMode) -> str | None:
    """Run one operation in one generation mode; the failure's report, or None."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=PHASES)
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, timeout=10, headers=_auth(operation))

    try:
        run()
    except Unsatisfiable:
        return None  # every value it could send is valid: nothing to test in this mode
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # schemathesis raises a BaseExceptionGroup of what it found: collect, go on
        return f"{operation.label} [{mode.value}]: {type(e).__name__}: {e}"
    return None


def test_every_operation_answers_as_documented(live_url: str) -> None:
    """Valid inputs (positive) and invalid ones (negative: they must get a documented 4xx, never a 5xx)."""
    api_schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json", config=_config())
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {"GET /search", "GET /suggest", "POST /feedback", "POST /unanswered"} <= {op.label for op in operations}
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.body)):
                continue  # a free path or header string has no invalid values: hypothesis would search in vain
            failure = _fuzz(operation, mode)
            if failure is not None:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)


def _coverage_failures(live_url: str, *, admin: bool) -> list[str]:
    """schemathesis's coverage phase with every check: boundary values of each parameter, and the methods the
    schema does not list (405 with a complete ``Allow``; OPTIONS listing exactly the documented methods)."""
    from schemathesis.engine import events, from_schema

    config = _config(admin)
    project = config.projects.override
    project.phases.update(phases=["coverage"])
    project.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")
    project.checks.update(included_check_names=["all"])
    api_schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json", config=config)
    api_schema = api_schema.include(path_regex="^/admin") if admin else api_schema.exclude(path_regex="^/admin")
    found: list[str] = []
    for event in from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            found += [f"{event.recorder.label} [{node.name}]: {node.failure_info.failure}\n"
                      f"{node.failure_info.code_sample}"
                      for nodes in event.recorder.checks.values() for node in nodes if node.failure_info is not None]
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            found.append(f"the run itself failed: {event!r}")
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("admin", [False, True], ids=["public", "admin"])
def test_boundaries_and_undocumented_methods_answer_as_documented(live_url: str, admin: bool) -> None:
    """What the outside probe found here: OPTIONS /admin/session answered 405 with `Allow: POST` (three methods
    are documented), `"confidence": false` was accepted, `article_id: ""` was allowed by the schema but refused."""
    failures = _coverage_failures(live_url, admin=admin)
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", ["/feedback", "/unanswered"])
def test_a_body_that_is_not_utf8_gets_a_documented_answer(small_settings: Settings, path: str) -> None:
    """What the first fuzz run found: FastAPI answered such a body with an undocumented 400 without `field`."""
    with TestClient(create_app(_fuzz_settings(small_settings), embedder=FakeEmbedder(), watch=False)) as client:
        documented = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
        r = client.post(path, content=b'{"query": "\xff"}', headers={"Content-Type": "application/json"})
    assert r.status_code < 500
    assert str(r.status_code) in documented and set(r.json()) == {"detail", "field"}
