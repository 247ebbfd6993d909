"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis).

For every operation, schemathesis generates valid and invalid requests (with hypothesis)
and checks each answer: never a 5xx, invalid input rejected with a 4xx, and every
documented answer matching its schema. The application is the real one, on the
session's service; a live stream is read for at most a second per request.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from covalent_ray.api import ServiceBackend, create_app
from covalent_ray.api._security import LOOPBACK_HOSTS

pytestmark = pytest.mark.usefixtures("service")


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """(method, path, mode) of every operation the application serves; invalid input
    only where the operation takes some. Read from the schema, so a new endpoint is
    fuzzed without anyone listing it here."""
    spec = create_app(ServiceBackend(result_manager=None), ui_dir=None).openapi()
    cases = []
    for path, methods in sorted(spec["paths"].items()):
        for method, op in sorted(methods.items()):
            cases.append((method.upper(), path, GenerationMode.POSITIVE))
            if op.get("parameters") or op.get("requestBody"):
                cases.append((method.upper(), path, GenerationMode.NEGATIVE))
    return cases


OPERATIONS = _operations()
#: operations whose input is a language the schema cannot describe (SQL)
FREE_TEXT_OPERATIONS = {"/api/v1/sql"}


@pytest.fixture(scope="module")
def api_schema(backend: ServiceBackend) -> schemathesis.schemas.BaseSchema:
    """The served OpenAPI schema, with the application as the service runs it."""
    app = create_app(backend, allowed_hosts=LOOPBACK_HOSTS)
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": "127.0.0.1"})


def test_every_documented_operation_is_fuzzed() -> None:
    paths = {path for _, path, _ in OPERATIONS}
    assert {
        "/api/v1/dispatches",
        "/api/v1/dispatches/{dispatch_id}",
        "/api/v1/dispatches/{dispatch_id}/graph",
        "/api/v1/dispatches/{dispatch_id}/electrons/{node_id}",
        "/api/v1/events",
        "/api/v1/health",
        "/api/v1/version",
        "/api/v1/stats",
    } <= paths


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_no_input_makes_the_api_fail(
    api_schema: schemathesis.schemas.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    # a query text can match its schema and still not be valid SQL: there a 400 is right
    excluded = [positive_data_acceptance] if path in FREE_TEXT_OPERATIONS else []

    # an open live stream is read until its one-second deadline: fewer, slower examples
    streaming = path == "/api/v1/events"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25 if streaming else 50,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url="http://127.0.0.1", timeout=1, excluded_checks=excluded)

    check()
