"""``create_app``: the FastAPI application of the REST API and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from . import _errors
from ._backend import ServiceBackend
from ._bodies import DEFAULT_MAX_BODY_BYTES, BodyGuard
from ._errors import UnknownPathError
from ._security import same_origin_writes, token_guard
from .routes import (
    dispatches,
    electrons,
    events,
    logs,
    metrics,
    previews,
    settings,
    sql,
    system,
    triggers,
)

API_PREFIX = "/api/v1"
#: The dashboard's files, shipped inside the package (no build step, no Node.js)
UI_DIR = Path(__file__).resolve().parent.parent / "ui"

# The dashboard loads only its own files and talks only to this server; user data it
# shows (names, values, logs) is inserted as text, and this policy stops any script
# that slipped through from running or from sending data elsewhere.
_DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)

_DESCRIPTION = """\
Read every dispatch of a covalent-ray service, watch its status changes live, and
control it. All paths are under `/api/v1`. Send the service's API token as
`Authorization: Bearer <token>`: `covalent-ray start` makes one at each start and keeps it
in `<home>/api_token` (only a service started with `--no-api-token` answers without;
health and version always do).
"""


def create_app(
    backend: ServiceBackend | None = None,
    *,
    home: str | Path | None = None,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    ui_dir: Path | None = UI_DIR,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The application, reading through ``backend`` (default: the service of ``home``).

    ``token`` makes every data route require ``Authorization: Bearer <token>``;
    ``allowed_hosts`` restricts the accepted ``Host`` headers (the server passes the
    loopback names when it listens on loopback); ``ui_dir=None`` serves no dashboard;
    a request body over ``max_body_bytes`` is refused with 413 before anything else runs.
    """
    app = FastAPI(
        title="covalent-ray",
        version=__version__,
        description=_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.backend = backend or ServiceBackend.connect(home)
    app.state.streams = events.OpenStreams()
    dependencies: list[Any] = [Depends(same_origin_writes)]
    guarded: dict[int | str, dict[str, Any]] = {}
    if token:
        dependencies.append(Depends(token_guard(token)))
        guarded[401] = {
            "description": "The API token is missing or wrong.",
            # JSON on every operation, the event stream's included (its answers are events)
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }

    app.include_router(system.public_router, prefix=API_PREFIX)
    for module in (system, dispatches, electrons, events, sql, previews, triggers, settings, logs):
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=dependencies, responses=guarded
        )

    # where Prometheus scrapes by default; with a token, scrapers send it as a bearer token
    app.include_router(metrics.router, dependencies=dependencies, responses=guarded)

    @app.api_route(
        API_PREFIX + "/{path:path}",
        include_in_schema=False,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    )
    async def unknown_api_path(path: str) -> None:
        # a JSON 404 like every other API error, rather than the static files' page
        raise UnknownPathError(f"no API operation at {API_PREFIX}/{path}; see /docs.")

    _errors.install(app)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    if ui_dir is not None:
        _add_dashboard(app, ui_dir)
    # outermost: an oversized or malformed body costs no parsing and no token check
    app.add_middleware(BodyGuard, max_bytes=max_body_bytes)
    return app


def _add_dashboard(app: FastAPI, ui_dir: Path) -> None:
    """Serve the dashboard at ``/``, its files under ``/ui``, and the API docs at
    ``/docs`` with the vendored Swagger UI (the browser may have no internet)."""
    index = ui_dir / "index.html"

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(
            index, headers={"Content-Security-Policy": _DASHBOARD_CSP, "Cache-Control": "no-cache"}
        )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="covalent-ray API",
            swagger_js_url="/ui/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/ui/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/ui/vendor/swagger-ui/favicon-32x32.png",
        )

    app.mount("/ui", StaticFiles(directory=ui_dir), name="ui")
