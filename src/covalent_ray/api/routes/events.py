"""``/api/v1/events``: status changes as they happen (server-sent events).

Each connection long-polls the result manager's change feed (``changes``) with its own
cursor, so a client sees every change after the one it last saw, in order, and resumes
after a reconnect from ``Last-Event-ID``. The stream's events:

- ``ready``: ``{"seq": n}``, the cursor the stream starts after;
- ``changes``: ``{"seq": n, "changes": [{"type", "dispatch_id", "node_id"?, "status"}]}``;
- ``resync``: changes were missed (the feed's buffer overflowed or the service
  restarted): reload what is shown, then keep reading;
- ``end``: with ``until_end``, the dispatch has ended and the stream closes.

FastAPI sends a keep-alive comment whenever the stream is idle for 15 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ..._exceptions import ServiceError
from ..._status import Status
from .._deps import Backend
from .._models import EventsQuery
from .dispatches import missing

router = APIRouter(tags=["events"])

#: How long one long-poll of the change feed waits before asking again
POLL_S = 10.0
#: Failed polls in a row after which the stream ends (the client reconnects)
MAX_FAILED_POLLS = 3


async def _checked_query(backend: Backend, query: Annotated[EventsQuery, Query()]) -> EventsQuery:
    # runs before the stream starts, so an unknown dispatch is a plain 404
    if query.dispatch_id is not None and await backend.status(query.dispatch_id) is None:
        raise missing(query.dispatch_id)
    return query


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={
        404: {
            "description": "No such dispatch.",
            # errors are JSON even though this operation's answer is an event stream
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
    },
)
async def events(
    request: Request,
    backend: Backend,
    query: Annotated[EventsQuery, Depends(_checked_query)],
    last_event_id: Annotated[
        str | None,
        Header(
            max_length=64,
            description="Resume after this event (browsers send it when they "
            "reconnect); anything but an id this stream sent is ignored.",
        ),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Live status changes of every dispatch, or of one (``dispatch_id``)."""
    streams: OpenStreams = request.app.state.streams
    resume_from = _event_id(last_event_id)
    if query.since is not None:
        cursor = query.since
    elif resume_from is not None:
        cursor = resume_from
    else:
        cursor = await backend.current_seq()
    yield ServerSentEvent(event="ready", data={"seq": cursor}, id=str(cursor), retry=2000)
    target = query.dispatch_id if query.until_end else None
    # a dispatch that has already ended: replay what the client missed, then end
    ended_status = await _terminal_status(backend, target)
    if ended_status is not None and query.since is None and resume_from is None:
        yield ServerSentEvent(event="end", data={"dispatch_id": target, "status": ended_status})
        return
    sent, failures = 0, 0
    closing = streams.opened()
    try:
        while query.limit is None or sent < query.limit:
            try:
                batch = await _poll(backend, cursor, 0.0 if ended_status else POLL_S, closing)
            except ServiceError:
                # the result manager is restarting or stopping: wait for it a little,
                # then end the stream; the client reconnects where it left off
                failures += 1
                if failures >= MAX_FAILED_POLLS:
                    return
                await asyncio.sleep(1.0)
                continue
            if batch is None:  # the server is stopping: end cleanly, clients reconnect
                return
            failures = 0
            if batch["seq"] < cursor or batch["gap"]:
                # the feed restarted or dropped changes: the client must reload its view
                cursor = int(batch["seq"])
                yield ServerSentEvent(event="resync", data={"seq": cursor}, id=str(cursor))
                ended_status = await _terminal_status(backend, target)
                if ended_status is not None:
                    yield ServerSentEvent(
                        event="end", data={"dispatch_id": target, "status": ended_status}
                    )
                    return
                continue
            cursor = int(batch["seq"])
            items = batch["changes"]
            if query.dispatch_id is not None:
                items = [c for c in items if c["dispatch_id"] == query.dispatch_id]
            if items:
                yield ServerSentEvent(
                    event="changes", data={"seq": cursor, "changes": items}, id=str(cursor)
                )
                sent += 1
            if target is not None:
                final = _end_status(items, target) or ended_status
                if final is not None:
                    yield ServerSentEvent(
                        event="end", data={"dispatch_id": target, "status": final}
                    )
                    return
    finally:
        streams.closed(closing)


async def _poll(
    backend: Backend, cursor: int, timeout: float, closing: asyncio.Event
) -> dict[str, Any] | None:
    """The next changes after ``cursor``, or None once the server is stopping."""
    poll = asyncio.ensure_future(backend.changes(cursor, timeout))
    stop = asyncio.ensure_future(closing.wait())
    try:
        await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not poll.done():
            poll.cancel()
    if closing.is_set() and not poll.done():
        return None
    return poll.result() if not poll.cancelled() else None


class OpenStreams:
    """The live streams a server has open, so that stopping it can end them: a stream
    never ends by itself, and uvicorn would otherwise cancel them mid-poll."""

    def __init__(self) -> None:
        self._events: set[asyncio.Event] = set()
        self._closing = False

    def opened(self) -> asyncio.Event:
        """An event the new stream watches (created in the stream's own loop)."""
        event = asyncio.Event()
        if self._closing:
            event.set()
        self._events.add(event)
        return event

    def closed(self, event: asyncio.Event) -> None:
        """Forget a stream that has ended."""
        self._events.discard(event)

    def close_all(self) -> None:
        """Ask every open stream to end (call from the server's event loop)."""
        self._closing = True
        for event in list(self._events):
            event.set()


def _event_id(header: str | None) -> int | None:
    """The sequence number in a Last-Event-ID header, if it holds one."""
    if header is None or not (header.isascii() and header.isdigit()) or len(header) > 18:
        return None
    return int(header)


async def _terminal_status(backend: Backend, dispatch_id: str | None) -> str | None:
    """The dispatch's status if it has ended, else None."""
    if dispatch_id is None:
        return None
    status = await backend.status(dispatch_id)
    return status if status is not None and Status(status).is_terminal else None


def _end_status(changes: list[dict[str, Any]], dispatch_id: str) -> str | None:
    """The terminal status among the dispatch's own changes, if any."""
    for c in reversed(changes):
        if (
            c["type"] == "dispatch"
            and c["dispatch_id"] == dispatch_id
            and Status(c["status"]).is_terminal
        ):
            return str(c["status"])
    return None
