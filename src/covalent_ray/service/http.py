"""Running the application under uvicorn inside the service process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from .._exceptions import ServiceError
from ..api._app import create_app
from ..api._backend import ServiceBackend
from ..api._security import LOOPBACK_HOSTS
from ..api.routes.events import OpenStreams
from .options import ApiOptions, is_loopback

#: Open live streams never end by themselves: give them this long on shutdown
GRACEFUL_SHUTDOWN_S = 2


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: the service process owns SIGTERM/SIGINT and
    stops the server itself, together with everything else it runs."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_server(home: Path, options: ApiOptions) -> uvicorn.Server:
    """A uvicorn server for the service of ``home`` (not started)."""
    bounds: dict[str, Any] = (
        {} if options.max_body_bytes is None else {"max_body_bytes": options.max_body_bytes}
    )
    app = create_app(
        ServiceBackend.connect(home, check=False),
        token=options.token,
        allowed_hosts=LOOPBACK_HOSTS if is_loopback(options.host) else None,
        **bounds,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return _Server(config)


async def start_server(server: uvicorn.Server, sock: socket.socket) -> asyncio.Task[None]:
    """Start serving on the bound ``sock``; return once it accepts connections."""
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise ServiceError("the HTTP server stopped while starting; see the service log")
        await asyncio.sleep(0.02)
    return task


async def stop_server(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """End the live streams, ask the server to finish, and wait for it."""
    app = server.config.app
    streams: OpenStreams | None = getattr(getattr(app, "state", None), "streams", None)
    if streams is not None:
        streams.close_all()
    server.should_exit = True
    with contextlib.suppress(Exception):
        await task
