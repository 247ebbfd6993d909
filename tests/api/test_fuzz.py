"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis).

For every operation, schemathesis generates valid and invalid requests (with hypothesis)
and checks each answer: never a 5xx, invalid input rejected with a 4xx, and every
documented answer matching its schema. Malformed bodies (JSON with NaN or Infinity,
overflowing numbers, cut short, corrupted bytes, wrong framing) are fuzzed too: each must
answer a short 4xx. The application is the real one, on the session's service; a live
stream is read for at most a second per request.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.testclient import TestClient

import covalent_ray as ct
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
def api_schema(
    backend: ServiceBackend, api_headers: dict[str, str], api_token: str
) -> schemathesis.schemas.BaseSchema:
    """The served OpenAPI schema, with the application as the service runs it (its token
    required, so schemathesis also checks that no operation ignores it)."""
    # the first query starts the SQL sandbox and copies the views: not within the
    # fuzzer's one-second read timeout on a busy machine, so do it before
    ct.sql("SELECT count(*) FROM dispatches")
    app = create_app(backend, token=api_token, allowed_hosts=LOOPBACK_HOSTS)
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, headers={"Host": "127.0.0.1", **api_headers}
    )


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


#: valid bodies of the operations that take one, which the fuzzer then corrupts
VALID_BODIES = {
    "/api/v1/sql": {"query": "SELECT count(*) FROM dispatches", "timeout": 5, "max_rows": 3},
    "/api/v1/dispatches/nope/cancel": {"task_ids": [1, 2]},
    "/api/v1/dispatches/nope/redispatch": {"reuse_previous_results": True},
}
#: what JSON does not allow but Python's json module would read
NOT_JSON = ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "9" * 4400, "\\ud800", "\x00"]


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, bytes]:
    """An operation's valid body, broken in one of the ways clients break them."""
    path = draw(st.sampled_from(sorted(VALID_BODIES)))
    text = json.dumps(VALID_BODIES[path])
    how = draw(st.sampled_from(["value", "insert", "truncate", "bytes", "garbage"]))
    if how == "value":  # a field's value replaced by a non-JSON number
        key = draw(st.sampled_from(sorted(VALID_BODIES[path])))
        raw = json.dumps({**VALID_BODIES[path], key: "@@"}).replace(
            '"@@"', draw(st.sampled_from(NOT_JSON))
        )
        return path, raw.encode()
    if how == "insert":
        at = draw(st.integers(0, len(text)))
        return path, (text[:at] + draw(st.sampled_from(NOT_JSON)) + text[at:]).encode()
    if how == "truncate":
        return path, text[: draw(st.integers(0, len(text) - 1))].encode()
    if how == "bytes":  # a few bytes of the body replaced by arbitrary ones
        data = bytearray(text.encode())
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + 4] = draw(st.binary(min_size=1, max_size=4))
        return path, bytes(data)
    return path, draw(st.binary(max_size=200))


def test_malformed_bodies_answer_a_short_4xx(
    backend: ServiceBackend, api_token: str, api_headers: dict[str, str]
) -> None:
    app = create_app(backend, token=api_token, allowed_hosts=LOOPBACK_HOSTS, ui_dir=None)
    with TestClient(app, base_url="http://127.0.0.1", headers=api_headers) as http:

        @given(case=malformed())
        @settings(max_examples=200, deadline=None, database=None, derandomize=True)
        def check(case: tuple[str, bytes]) -> None:
            path, body = case
            r = http.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code < 500, (path, body[:200], r.status_code, r.text[:500])
            if r.status_code >= 400:
                assert len(r.content) < 4000 and r.json()["detail"], r.text[:500]

        check()
