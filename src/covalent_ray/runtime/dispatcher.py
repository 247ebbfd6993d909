"""The dispatcher: turns a manifest into running Ray tasks and watches them end.

Policy
------
- A dispatch is first registered with the result manager (committed), then compiled
  (``core.compile``, pure) and launched (``launch``); ``submit`` returns after launch,
  so the client may exit at once and the workflow still completes.
- Electrons wait on each other's ObjectRefs: the dispatcher is not involved between
  electrons. It only watches each dispatch's final task: if that task cannot run because
  Ray itself failed (a worker or node died, an object was lost), the dispatcher ends the
  dispatch FAILED with Ray's error, so nothing is left RUNNING.
- On start (including a restart after a crash) it finds dispatches that were running,
  which no live dispatcher owns any more, and ends them FAILED with an error saying they
  were interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from .._home import NAMESPACE, RESULT_MANAGER_NAME
from .._status import Status
from ..core.compile import compile_plan
from ..core.graph import Node
from ..core.manifest import DispatchManifest
from .launch import Run, launch

log = logging.getLogger(__name__)


def _executor_key(node: Node) -> str | None:
    """Which adaptor runs an electron; None for the default executor (Dask-on-Ray)."""
    return None


class Dispatcher:
    """Run as a detached, restartable Ray actor."""

    def __init__(self, home: str) -> None:
        self.home = home
        self._rm = ray.get_actor(RESULT_MANAGER_NAME, namespace=NAMESPACE)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="covalent-ray-launch")
        self._runs: dict[str, Run] = {}
        self._recovered = False

    async def ping(self) -> str:
        """Liveness check; also finishes recovery after a (re)start."""
        await self._recover()
        return "ok"

    async def _recover(self) -> None:
        if self._recovered:
            return
        self._recovered = True
        for row in await self._rm.unfinished.remote():
            if row["dispatch_id"] in self._runs:
                continue
            await self._rm.abort.remote(
                row["dispatch_id"], Status.FAILED.value,
                "interrupted: the dispatcher restarted while this dispatch was running; "
                "redispatch it to run it again.")

    async def submit(self, manifest: DispatchManifest, want_refs: bool = False) -> Any:
        """Register and launch a dispatch. With ``want_refs`` (sublattices), return the
        ObjectRefs of its outcome and result value."""
        await self._recover()
        # registration commits while the tasks launch; the client hears back only once
        # both are done (the result manager holds back events that outrun it)
        registered = self._rm.register.remote(manifest)
        loop = asyncio.get_running_loop()
        try:
            plan = compile_plan(manifest.dispatch_id, manifest.graph, manifest.output_nodes,
                                _executor_key)
            run = await loop.run_in_executor(self._pool, launch, manifest, plan)
        except Exception as exc:
            await registered
            await self._rm.abort.remote(manifest.dispatch_id, Status.FAILED.value,
                                        f"launching the dispatch failed: {exc!r}")
            raise
        await registered
        self._runs[manifest.dispatch_id] = run
        loop.create_task(self._watch(run))
        if want_refs:
            return run.outcome_ref, run.value_ref
        return None

    async def _watch(self, run: Run) -> None:
        try:
            await run.outcome_ref
        except Exception as exc:  # Ray could not run the final step: a system failure
            log.warning("dispatch %s failed in Ray: %s", run.dispatch_id, exc)
            await self._rm.abort.remote(run.dispatch_id, Status.FAILED.value,
                                        f"Ray failed to run the dispatch: {exc}")
        finally:
            self._runs.pop(run.dispatch_id, None)

    async def running(self) -> list[str]:
        """IDs of the dispatches this dispatcher is watching."""
        return list(self._runs)
