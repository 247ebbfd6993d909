"""``/api/v1/logs``: the service's log (``<home>/logs/service.log``), as
``covalent-ray logs`` prints it: its last lines, its new lines as they are written
(server-sent events), and the whole file as a download.

The stream's events: ``ready`` (``{"offset": n}``, where it starts), then ``lines``
(``{"text", "offset"}``: whole lines written after the previous offset); with ``limit``
it closes after that many ``lines`` events. An event's id
is its offset, so a reconnecting client resumes with ``Last-Event-ID`` (or ``offset``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..._logfile import FOLLOW_INTERVAL_S, read_new, service_log, tail
from .._deps import Backend
from .._models import ErrorBody, LogTail
from .events import OpenStreams

router = APIRouter(prefix="/logs", tags=["system"])
NO_LOG: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "The service has written no log yet."}
}
#: the most lines a tail answers (the download has them all)
MAX_LINES = 10_000


def _log(backend: Backend) -> Path:
    from ..._home import home_dir

    return service_log(home_dir(backend.home))


@router.get("", response_model=LogTail)
async def log_tail(
    backend: Backend, lines: Annotated[int, Query(ge=1, le=MAX_LINES)] = 200
) -> LogTail:
    """The last ``lines`` lines of the service's log and the offset after them."""
    path = _log(backend)
    if not path.exists():
        return LogTail(path=str(path), text="", offset=0, exists=False)
    text, offset = await asyncio.to_thread(tail, path, lines)
    return LogTail(path=str(path), text=text, offset=offset, exists=True)


@router.get("/download", response_class=FileResponse, responses=NO_LOG)
async def log_download(backend: Backend) -> FileResponse:
    """The whole log, as a file to save."""
    path = _log(backend)
    if not path.exists():
        raise HTTPException(404, f"no service log at {path} yet: the service writes it as it runs")
    return FileResponse(path, media_type="text/plain; charset=utf-8", filename="service.log")


@router.get("/stream", response_class=EventSourceResponse)
async def log_stream(
    request: Request,
    backend: Backend,
    offset: Annotated[
        int | None,
        Query(ge=0, description="Follow from this byte offset (default: the end of the log)."),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=0, description="Close after this many `lines` events.")
    ] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> AsyncIterator[ServerSentEvent]:
    """New lines of the service's log as they are written, until the client leaves (or
    ``limit`` events were sent)."""
    path = _log(backend)
    if last_event_id is not None and last_event_id.isascii() and last_event_id.isdigit():
        offset = int(last_event_id)
    at = offset if offset is not None else (path.stat().st_size if path.exists() else 0)
    streams: OpenStreams = request.app.state.streams
    closing = streams.opened()
    try:
        yield ServerSentEvent(event="ready", data={"offset": at}, id=str(at), retry=2000)
        sent = 0
        while not closing.is_set() and (limit is None or sent < limit):
            text, at = await asyncio.to_thread(read_new, path, at)
            if text:
                yield ServerSentEvent(event="lines", data={"text": text, "offset": at}, id=str(at))
                sent += 1
                continue
            try:
                await asyncio.wait_for(closing.wait(), FOLLOW_INTERVAL_S)
            except TimeoutError:
                pass
    finally:
        streams.closed(closing)
