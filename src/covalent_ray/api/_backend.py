"""The API's only way to the data: calls to the service's actors.

Every read goes to the result manager actor, because it is the only process that can
open the DuckDB file (see the package docstring). Control calls (cancel, redispatch) go
through the SDK functions, which reach the dispatcher, so the REST API and Python
clients share one code path.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from .._exceptions import CovalentRayError, ServiceError
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
    def connect(cls, home: str | os.PathLike[str] | None = None) -> ServiceBackend:
        """Join the service of ``home`` (default: the home in effect)."""
        from ..client.connect import connect

        conn = connect(home)
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

    async def read(self, name: str, *args: Any) -> Any:
        """Run a read query registered in ``storage.reads``."""
        return await self._call("read", name, *args)

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
        """Run a stored dispatch again with its inputs through ``ct.redispatch``.

        The lattice body runs here, in the server, to rebuild the graph (as it ran in the
        client at the first dispatch); its electrons run on the cluster as usual."""
        from ..sdk.dispatch import redispatch

        def run() -> str:
            try:
                return redispatch(
                    dispatch_id, reuse_previous_results=reuse_previous_results, home=self.home
                )()
            except CovalentRayError:
                raise
            except Exception as exc:
                # unpickling the lattice or running its body here failed (a module the
                # server cannot import, say): the client learns why, not "internal error"
                raise RedispatchFailedError(
                    f"dispatch {dispatch_id} cannot be redispatched by the server: "
                    f"{type(exc).__name__}: {exc}. Redispatch it from Python, where its "
                    f"modules import: ct.redispatch({dispatch_id!r})()."
                ) from exc

        return await asyncio.to_thread(run)
