"""How errors become HTTP answers: one table, installed by ``create_app``.

Every error body is ``{"detail": message, "error": kind}`` (:class:`ErrorBody`), the
framework's own (an unparseable body, a wrong method) included, except request
validation, which keeps FastAPI's 422 body listing each invalid field. The
client's mistakes are 4xx; a service that does not answer is 503; only a bug is 500.

API-specific errors extend the package's tree (``_exceptions``)::

    CovalentRayError
    └── ApiError
        ├── UnknownElectronError    404: the dispatch has no such node
        ├── UnknownPathError        404: no API operation at that path
        ├── NotAuthenticatedError   401: missing or wrong API token
        ├── CrossSiteRequestError   403: a browser sent a write from another site
        ├── RedispatchFailedError   409: the stored lattice cannot be run again here
        └── FeatureUnavailableError 501: this service cannot do that
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._exceptions import (
    CancelError,
    CovalentRayError,
    DispatchNotFinishedError,
    LatticeBuildError,
    MissingDispatchError,
    QueryError,
    SerializationError,
    ServiceError,
    ServiceNotRunningError,
)

log = logging.getLogger("covalent_ray.api")


class ApiError(CovalentRayError):
    """An error raised by the HTTP API itself."""


class UnknownElectronError(ApiError, KeyError):
    """The dispatch exists but has no node with that id."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else "unknown electron"


class UnknownPathError(ApiError):
    """No API operation at the requested path."""


class NotAuthenticatedError(ApiError):
    """The request lacks the API token the server requires, or carries a wrong one."""


class CrossSiteRequestError(ApiError):
    """A state-changing request came from a page of another origin."""


class RedispatchFailedError(ApiError):
    """The stored lattice could not be loaded or rebuilt in the server."""


class FeatureUnavailableError(ApiError):
    """The service cannot perform this operation."""


#: exception class -> HTTP status; the nearest class in the exception's MRO wins
STATUS_BY_ERROR: dict[type[BaseException], int] = {
    MissingDispatchError: 404,
    UnknownElectronError: 404,
    UnknownPathError: 404,
    NotAuthenticatedError: 401,
    CrossSiteRequestError: 403,
    RedispatchFailedError: 409,
    CancelError: 409,
    DispatchNotFinishedError: 409,
    LatticeBuildError: 400,
    SerializationError: 400,
    QueryError: 400,
    FeatureUnavailableError: 501,
    ServiceNotRunningError: 503,
    ServiceError: 503,
    CovalentRayError: 400,
}


def _status_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(exc: BaseException, status: int | None = None) -> JSONResponse:
    """The JSON answer for ``exc``."""
    code = status or _status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(
        {"detail": str(exc) or type(exc).__name__, "error": type(exc).__name__},
        status_code=code,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Answer every package error by :data:`STATUS_BY_ERROR`, anything else with a 500."""

    async def known(request: Request, exc: Exception) -> JSONResponse:
        response = error_response(exc)
        if response.status_code >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return response

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug: log the traceback here, give the client a message without internals
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return JSONResponse(
            {
                "detail": "internal error in the covalent-ray API; the "
                "service log has the traceback",
                "error": type(exc).__name__,
            },
            status_code=500,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        # the framework's own errors (unparseable body, unknown file, wrong method) in
        # the same shape as ours
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        kind = HTTPStatus(exc.status_code).phrase.title().replace(" ", "").replace("-", "")
        return JSONResponse(
            {"detail": str(exc.detail), "error": kind},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_exception_handler(CovalentRayError, known)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
