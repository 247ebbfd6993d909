"""Request bodies: bounded in size and strict JSON, checked before anything else runs.

:class:`BodyGuard` is the application's outermost layer (a plain ASGI middleware), so a
request it refuses costs neither parsing nor authentication work:

- A body over ``max_bytes`` is refused with 413: at once when ``Content-Length`` says so
  (the body is never read), else as soon as the bytes read pass the bound. Reading is
  asynchronous, so other requests (``/health``) keep being answered meanwhile.
- A JSON body (``application/json``, ``*+json``, or no content type, which FastAPI reads
  as JSON) must be RFC 8259 JSON: ``NaN``, ``Infinity``, numbers too large for a float
  (``1e999``) or too long for an int, invalid UTF-8, lone surrogate escapes, or nesting
  deep enough to exhaust the parser answer 422 in FastAPI's own shape for a body that
  does not parse (``{"detail": [{"type": "json_invalid", ...}]}``), quoting a short
  excerpt at most. A ``Content-Length`` that is no number is a 400
  (:class:`MalformedBodyError`).

The body is then handed on whole, so the routes parse a few megabytes at most.
"""

from __future__ import annotations

import email.message
import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from ._errors import BodyTooLargeError, MalformedBodyError, error_response, excerpt

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The default bound: SQL text (at most 100 000 characters) and id lists are far smaller
DEFAULT_MAX_BODY_BYTES = 4 * 2**20


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {excerpt(text, 40)} is too large for a float")
    return value


def check_json(body: bytes) -> None:
    """Raise :class:`MalformedBodyError` (its ``position``: where, if known) unless
    ``body`` is strict JSON."""
    try:
        value = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
        # a lone UTF-16 surrogate (``"\ud800"``) is no text: nothing could store or echo it
        json.dumps(value, ensure_ascii=False).encode()
    except json.JSONDecodeError as exc:
        near = excerpt(exc.doc[max(exc.pos - 20, 0) : exc.pos + 20], 40)
        error = MalformedBodyError(
            f"the request body is not valid JSON: {exc.msg} at character {exc.pos} (near {near!r})."
        )
        error.position = exc.pos
        raise error from None
    except UnicodeDecodeError:
        raise MalformedBodyError("the request body is not valid UTF-8 JSON.") from None
    except UnicodeEncodeError:
        raise MalformedBodyError(
            "the request body holds a lone UTF-16 surrogate escape, which is not text."
        ) from None
    except RecursionError:
        raise MalformedBodyError("the request body nests too deeply to be read.") from None
    except ValueError as exc:  # NaN/Infinity, a float overflow, an int of 4300+ digits
        raise MalformedBodyError(
            f"the request body is not valid JSON: {excerpt(str(exc), 120)}."
        ) from None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a content type as JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class BodyGuard:
    """ASGI middleware: refuse oversized (413) and malformed JSON (400) bodies first."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._refuse(MalformedBodyError("Content-Length is not a number."), send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(self._too_large(int(declared)), send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(self._too_large(None), send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(headers.get("content-type")):
            try:
                check_json(body)
            except MalformedBodyError as exc:
                await self._refuse_json(exc, send)
                return
        replayed = False

        async def replay() -> Message:
            # the whole body once, then the connection's own messages (a disconnect)
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self, declared: int | None) -> BodyTooLargeError:
        size = f" ({declared} bytes)" if declared is not None else ""
        return BodyTooLargeError(
            f"the request body{size} is larger than this server accepts "
            f"({self.max_bytes} bytes; `covalent-ray start --max-body-bytes` sets it). "
            "API bodies are small: SQL text and lists of ids."
        )

    async def _refuse_json(self, exc: MalformedBodyError, send: Send) -> None:
        # FastAPI's answer to a body that does not parse, so clients see one shape
        error = {
            "type": "json_invalid",
            "loc": ["body", exc.position],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": str(exc)},
        }
        await self._send(JSONResponse({"detail": [error]}, status_code=422), send)

    async def _refuse(self, exc: Exception, send: Send) -> None:
        await self._send(error_response(exc), send)

    async def _send(self, response: JSONResponse, send: Send) -> None:
        # the rest of an unread body is not worth reading: close the connection after
        response.headers["Connection"] = "close"
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})
