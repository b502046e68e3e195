"""Schemathesis against the OpenAPI description: no request, however odd, gets a 5xx.

Every operation of ``/api/openapi.json`` is called with generated inputs (bounded: a fixed
number of examples per operation, derandomised so that runs repeat) as kestrel's engineer with
an API token, on the SQLite app. Checks: no 5xx, and every error answer is an RFC 9457 problem
(``application/problem+json`` with a matching ``status``).

Job submissions (``POST /api/designs/{id}/simulations`` and ``.../lifetimes``) are included:
their input checks run in the request. The job runner of this module's app is replaced by one
that only records ids, so that generated submissions queue rows but never start PyBaMM work
(that would make the module slow and its timing unpredictable); the jobs themselves are tested
in ``test_jobs.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from casip.platform.app import create_app
from casip.platform.settings import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_server(sqlite_server):
    """The SQLite app with a job runner that does not run jobs (see the module docstring)."""
    runner = sqlite_server.platform.jobs
    submitted: list[int] = []
    original = runner.submit
    runner.submit = submitted.append
    try:
        yield sqlite_server
    finally:
        runner.submit = original


@pytest.fixture(scope="module")
def api_schema(fuzz_server):
    return schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_server.client.app)


@pytest.fixture(scope="module")
def engineer(fuzz_server) -> tuple[dict[str, str], int]:
    """kestrel engineer's token headers and the token's id (which the test never revokes)."""
    headers = fuzz_server.as_role("kestrel")
    tokens = fuzz_server.client.get("/api/tokens", headers=headers).json()
    return headers, max(t["id"] for t in tokens)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app describes, read at collection time from an
    app that is built but not started (no database): new routes are fuzzed automatically."""
    app = create_app(Settings(data_dir=Path("unused-by-openapi"), database_url="sqlite://"))
    spec = app.openapi()
    methods = ("get", "put", "post", "delete", "patch")
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m in methods]


OPERATIONS = _operations()


def problem_details(ctx, response, case) -> bool | None:
    """Every 4xx answer is a problem document whose ``status`` is the HTTP status."""
    if not 400 <= response.status_code < 500:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    assert ctype.startswith("application/problem+json"), (
        f"{case.method} {case.formatted_path}: {response.status_code} with {ctype!r}"
    )
    body = response.json()
    assert body.get("status") == response.status_code, body
    return True


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_error(api_schema, engineer, method, path):
    headers, own_token = engineer
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if case.path_parameters and case.path_parameters.get("token_id") == own_token:
            case.path_parameters["token_id"] = own_token + 1_000_000  # keep the test's token
        case.call_and_validate(headers=headers, checks=[not_a_server_error, problem_details])

    run()
