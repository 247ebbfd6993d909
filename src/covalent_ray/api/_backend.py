"""The API's only way to the data: calls to the service's actors.

Every read goes to the result manager actor, because it is the only process that can
open the DuckDB file (see the package docstring). Cancel goes through the SDK's
``ct.cancel``, which reaches the dispatcher, so the REST API and Python clients share one
code path; redispatch asks the dispatcher to run the stored graph again (``rerun``), so
that the server never unpickles or runs user code.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .._exceptions import CovalentRayError, ServiceError
from ..core.messages import DispatchRow, ElectronDetail, GraphView, TimelineView
from ._errors import RedispatchFailedError

#: How long a read may take before the API answers 503 instead of hanging the client
CALL_TIMEOUT_S = 60.0


class ServiceBackend:
    """Async access to a running covalent-ray service from inside the HTTP server."""

    def __init__(
        self,
        result_manager: Any,
        home: str | os.PathLike[str] | None = None,
        call_timeout: float = CALL_TIMEOUT_S,
    ) -> None:
        self._rm = result_manager
        self.home = home
        self.call_timeout = call_timeout

    @classmethod
    def connect(
        cls, home: str | os.PathLike[str] | None = None, *, check: bool = True
    ) -> ServiceBackend:
        """Join the service of ``home`` (default: the home in effect); ``check=False``
        from inside the service process (see ``client.connect.connect``)."""
        from ..client.connect import connect

        conn = connect(home, check=check)
        return cls(conn.result_manager, home=conn.info.home)

    async def _call(
        self, method: str, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        from ray.exceptions import GetTimeoutError, RayActorError

        limit = self.call_timeout if timeout is None else timeout
        ref = getattr(self._rm, method).remote(*args, **kwargs)
        try:
            return await asyncio.wait_for(ref, limit)
        except (TimeoutError, RayActorError, GetTimeoutError) as exc:
            # a dead or stuck result manager is the service's state, not the client's
            # fault: the error handlers turn this into 503
            raise ServiceError(
                f"the covalent-ray result manager did not answer ({method}: "
                f"{type(exc).__name__}: {str(exc) or f'no answer within {limit:g} s'}). "
                "Check `covalent-ray status`."
            ) from exc

    async def ping(self) -> str:
        """The result manager's liveness answer."""
        return str(await self._call("ping", timeout=10.0))

    async def dispatch_summary(self, dispatch_id: str) -> DispatchRow | None:
        """One dispatch with its electron counts and child dispatches, or None."""
        row: DispatchRow | None = await self._call("dispatch_summary", dispatch_id)
        return row

    async def graph_view(self, dispatch_id: str) -> GraphView | None:
        """A dispatch's graph for drawing, or None."""
        view: GraphView | None = await self._call("graph_view", dispatch_id)
        return view

    async def timeline(self, dispatch_id: str) -> TimelineView | None:
        """When and where each node of a dispatch ran, or None."""
        view: TimelineView | None = await self._call("timeline", dispatch_id)
        return view

    async def comparison_side(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch's row and nodes as ``core.compare`` reads them, or None."""
        side: dict[str, Any] | None = await self._call("comparison_side", dispatch_id)
        return side

    async def electron_detail(self, dispatch_id: str, node_id: int) -> ElectronDetail | None:
        """One node with its inputs and attempts; None for an unknown dispatch."""
        detail: ElectronDetail | None = await self._call("electron_detail", dispatch_id, node_id)
        return detail

    async def list_dispatches(self, **filters: Any) -> dict[str, Any]:
        """A page of dispatches with electron counts, and the total."""
        return dict(await self._call("list_dispatches", **filters))

    async def status(self, dispatch_id: str) -> str | None:
        """A dispatch's status, or None when unknown."""
        status = await self._call("status", dispatch_id)
        return None if status is None else str(status)

    async def counts(self) -> dict[str, int]:
        """Dispatches by status."""
        return dict(await self._call("counts"))

    async def triggers(
        self, state: str | None = None, dispatch_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Registered triggers, oldest first (result manager ``triggers``)."""
        return list(await self._call("triggers", state=state, dispatch_id=dispatch_id))

    async def trigger_lineage(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch's triggers and lineage, or None when unknown."""
        found = await self._call("trigger_lineage", dispatch_id)
        return None if found is None else dict(found)

    async def metrics(self) -> bytes:
        """The result manager's metrics in Prometheus' text format."""
        return bytes(await self._call("metrics", timeout=10.0))

    async def changes(self, since: int, timeout: float) -> dict[str, Any]:
        """Status changes after ``since``, waiting up to ``timeout`` for the first."""
        return dict(await self._call("changes", since, timeout, timeout=timeout + 30.0))

    async def current_seq(self) -> int:
        """The sequence number of the latest change (a long-poll that waits for nothing)."""
        # asking for changes after an unreachable number returns none, at once, with seq
        answer = await self._call("changes", 2**62, 0.0)
        return int(answer["seq"])

    async def delete(self, dispatch_ids: list[str]) -> dict[str, list[str]]:
        """Delete ended dispatches with their stored objects (result manager ``delete``)."""
        return dict(await self._call("delete", dispatch_ids))

    async def cancel(self, dispatch_id: str, task_ids: list[int] | None) -> dict[str, Any]:
        """Cancel a dispatch (or some of its electrons) through ``ct.cancel``."""
        from ..sdk.dispatch import cancel

        return await asyncio.to_thread(cancel, dispatch_id, task_ids, home=self.home)

    async def redispatch(self, dispatch_id: str, reuse_previous_results: bool) -> str:
        """Run a stored dispatch again, as stored, through the dispatcher's ``rerun``.

        Nothing of the user's is unpickled or run in the server: the dispatcher launches
        the stored graph again and the electrons run on the cluster's workers, unpickling
        their functions and inputs there as the first time. (``ct.redispatch`` in Python
        rebuilds the graph by running the lattice in the caller's process instead, and can
        take new inputs and replaced electrons.)"""
        from ..client.connect import connect, get

        def run() -> str:
            dispatcher = connect(self.home).dispatcher
            return str(
                get(
                    dispatcher.rerun.remote(dispatch_id, reuse_previous_results),
                    f"redispatching {dispatch_id}",
                )
            )

        try:
            return await asyncio.to_thread(run)
        except CovalentRayError:
            raise
        except Exception as exc:  # the stored graph could not be launched again
            raise RedispatchFailedError(
                f"dispatch {dispatch_id} cannot be run again by the server: "
                f"{type(exc).__name__}: {exc}. Redispatch it from Python: "
                f"ct.redispatch({dispatch_id!r})()."
            ) from exc
