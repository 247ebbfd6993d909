"""How errors become HTTP answers: one table, installed by ``create_app``.

Every error body is ``{"detail": message, "error": kind}`` (:class:`ErrorBody`), the
framework's own (an unparseable body, a wrong method) included, except request
validation, which keeps FastAPI's 422 body listing each invalid field (at most
:data:`MAX_LISTED_ERRORS` of them, each quoting at most a short excerpt of the input). The
client's mistakes are 4xx; a service that does not answer is 503; only a bug is 500.

API-specific errors extend the package's tree (``_exceptions``)::

    CovalentRayError
    └── ApiError
        ├── UnknownElectronError    404: the dispatch has no such node
        ├── UnknownPathError        404: no API operation at that path
        ├── NotAuthenticatedError   401: missing or wrong API token
        ├── CrossSiteRequestError   403: a browser sent a write from another site
        ├── MalformedBodyError      400/422: bad framing / not strict JSON (NaN...)
        ├── BodyTooLargeError       413: the body is over the server's bound
        └── RedispatchFailedError   409: the stored lattice cannot be run again here
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
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


class MalformedBodyError(ApiError):
    """The request body is not strict JSON (answered as FastAPI's 422 ``json_invalid``),
    or its framing is wrong (400)."""

    position: int = 0  # where in the body, when known


class BodyTooLargeError(ApiError):
    """The request body is larger than the server accepts."""


class RedispatchFailedError(ApiError):
    """The stored lattice could not be loaded or rebuilt in the server."""


#: exception class -> HTTP status; the nearest class in the exception's MRO wins
STATUS_BY_ERROR: dict[type[BaseException], int] = {
    MissingDispatchError: 404,
    UnknownElectronError: 404,
    UnknownPathError: 404,
    NotAuthenticatedError: 401,
    CrossSiteRequestError: 403,
    MalformedBodyError: 400,
    BodyTooLargeError: 413,
    RedispatchFailedError: 409,
    CancelError: 409,
    DispatchNotFinishedError: 409,
    LatticeBuildError: 400,
    SerializationError: 400,
    QueryError: 400,
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


#: A validation answer lists at most this many errors
MAX_LISTED_ERRORS = 20
#: At most this much of a client's input is quoted back in an error
EXCERPT_CHARS = 80


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short excerpt of ``value``'s text (its ``repr`` unless it is a string)."""
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode()  # lone surrogates too


def _short(value: Any) -> Any:
    """``value`` itself when it is small plain JSON, else a short excerpt of its text (an
    answer never echoes a large input, and never fails to serialise: no NaN)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= EXCERPT_CHARS and not isinstance(value, str):
        return value
    return excerpt(value if isinstance(value, str) or text is None else text)


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's list of validation errors, bounded: inputs and contexts as excerpts."""
    listed: list[dict[str, Any]] = []
    for error in list(errors)[:MAX_LISTED_ERRORS]:
        item: dict[str, Any] = {
            "type": str(error.get("type", "")),
            "loc": [_short(part) for part in error.get("loc", ())],
            "msg": _short(str(error.get("msg", ""))),
        }
        if "input" in error:
            item["input"] = _short(error["input"])
        if isinstance(error.get("ctx"), dict):
            item["ctx"] = {str(k): _short(v) for k, v in error["ctx"].items()}
        listed.append(item)
    if len(errors) > MAX_LISTED_ERRORS:
        listed.append(
            {
                "type": "too_many_errors",
                "loc": [],
                "msg": f"{len(errors) - MAX_LISTED_ERRORS} more errors not listed",
            }
        )
    return listed


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

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)

    app.add_exception_handler(CovalentRayError, known)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
