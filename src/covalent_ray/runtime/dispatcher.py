"""The dispatcher: turns a manifest into running Ray tasks, watches them end, cancels them,
and picks interrupted dispatches back up.

Policy
------
- **Launch.** A dispatch is registered with the result manager while it is compiled
  (``core.compile``, pure) and launched (``launch``); ``submit`` returns once both are
  done, so the client may exit at once and the workflow still completes. Electrons wait
  on each other's ObjectRefs: the dispatcher is not involved between electrons.
- **Watch.** It awaits only each dispatch's final task. If that task cannot run because
  an input was cancelled or Ray itself failed (a worker or node died, an object was
  lost), it waits for the remaining tasks to settle and ends the dispatch CANCELLED or
  FAILED with Ray's error, so nothing is left RUNNING.
- **Cancel.** Cancelling kills the electrons' Ray tasks (``ray.cancel(force=True)``,
  which stops a running task's worker process), cancels the child dispatches of
  sublattices among them, and marks the electrons CANCELLED. With ``task_ids`` only those
  electrons and their dependants are cancelled; the rest of the graph runs to the end.
- **Resume.** On start (a restart after a crash included) it finds dispatches that were
  running and that no live dispatcher owns: each is launched again from its stored
  manifest, with every COMPLETED electron's stored output reused (not run again) and
  every FAILED electron's failure kept. A dispatch that cannot be resumed (its manifest
  or outputs are gone) ends FAILED with an error saying it was interrupted. Child
  dispatches of sublattices are ended instead: their parent starts a new child when its
  sublattice electron runs again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from .. import _serialize
from .._exceptions import CancelError
from .._home import NAMESPACE, RESULT_MANAGER_NAME
from .._status import Status
from ..core.compile import Plan, compile_plan
from ..core.graph import Node, NodeKind, descendants
from ..core.manifest import DispatchManifest
from ..core.outcome import Failed
from ..core.reuse import reusable_nodes
from .adaptor import ExecutorAdaptor
from .launch import Run, SubmitToExecutor, launch
from .worker import run_node

log = logging.getLogger(__name__)

CANCELLED_BY_USER = "cancelled by the user"


def _executor_key(node: Node) -> str | None:
    """Which executor runs an electron; None for the default executor (Dask-on-Ray)."""
    return node.executor.key if node.executor is not None else None


_direct_node = ray.remote(run_node)  # electrons of a RayExecutor: plain Ray tasks


class Dispatcher:
    """Run as a detached, restartable Ray actor."""

    def __init__(self, home: str) -> None:
        self.home = home
        self._rm = ray.get_actor(RESULT_MANAGER_NAME, namespace=NAMESPACE)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="covalent-ray-launch")
        self._runs: dict[str, Run] = {}
        self._children: dict[str, set[str]] = {}
        self._cancelled: dict[str, set[int]] = {}  # dispatch -> electrons cancelled
        self._recovery: asyncio.Task[None] | None = None
        self._adaptors: dict[str, Any] = {}  # executor key -> adaptor actor
        self._adaptor_users: dict[str, set[str]] = {}  # executor key -> dispatches using it
        self._adaptor_nodes: dict[str, dict[int, str]] = {}  # dispatch -> node -> key
        self._adaptor_lock = threading.Lock()  # launches run in threads
        # after a crash nobody may call us for a while: queue our own first call so
        # interrupted dispatches resume as soon as this actor is up
        ray.get_runtime_context().current_actor.ping.remote()

    async def pid(self) -> int:
        """The actor's process id (diagnostics, crash tests)."""
        return os.getpid()

    async def ping(self) -> str:
        """Liveness check; the first call after a (re)start resumes interrupted dispatches."""
        await self._recover()
        return "ok"

    # -- recovery -----------------------------------------------------------------------

    async def _recover(self) -> None:
        if self._recovery is None:
            self._recovery = asyncio.get_running_loop().create_task(self._recover_all())
        await asyncio.shield(self._recovery)

    async def _recover_all(self) -> None:
        for row in await self._rm.unfinished.remote():
            dispatch_id = row["dispatch_id"]
            if dispatch_id in self._runs:
                continue
            if row["parent_dispatch_id"]:
                await self._rm.abort.remote(
                    dispatch_id,
                    Status.FAILED.value,
                    "interrupted: the service restarted while this sublattice ran; its "
                    "parent dispatch starts a new one when it resumes.",
                )
                continue
            try:
                await self._resume(dispatch_id)
                log.info("resumed dispatch %s", dispatch_id)
            except Exception as exc:
                log.exception("cannot resume dispatch %s", dispatch_id)
                await self._rm.abort.remote(
                    dispatch_id,
                    Status.FAILED.value,
                    f"interrupted: the service restarted while this dispatch ran and it "
                    f"could not be resumed ({exc!r}); redispatch it to run it again.",
                )

    async def _resume(self, dispatch_id: str) -> None:
        manifest: DispatchManifest | None = await self._rm.load_manifest.remote(dispatch_id)
        if manifest is None:
            raise RuntimeError("its stored manifest is missing")
        states = await self._rm.node_outputs.remote(dispatch_id)
        reuse: dict[int, str] = {}
        for node in manifest.graph.nodes:
            state = states.get(node.id, {})
            if node.kind is NodeKind.PARAMETER:
                continue
            if state.get("status") == Status.COMPLETED.value and state.get("output_blob"):
                reuse[node.id] = state["output_blob"]
            elif state.get("status") in (Status.FAILED.value, Status.CANCELLED.value):
                # keep the failure: its dependants are skipped again, not run
                marker = _serialize.dumps(
                    Failed(node.id, node.name, _first_line(state.get("error"))), "a failure"
                )
                key = _serialize.blob_key(marker)
                manifest.blobs[key] = marker
                reuse[node.id] = key
        missing = [k for k in set(reuse.values()) if k not in manifest.blobs]
        manifest.blobs.update(await self._rm.get_blobs.remote(missing))
        lost = [n for n, k in reuse.items() if k not in manifest.blobs]
        if lost:
            raise RuntimeError(f"stored outputs of nodes {lost} are missing")
        await self._launch(manifest, reuse)

    # -- launch -------------------------------------------------------------------------

    def _compile(self, manifest: DispatchManifest, reuse: dict[int, str]) -> Plan:
        return compile_plan(
            manifest.dispatch_id, manifest.graph, manifest.output_nodes, _executor_key, reuse=reuse
        )

    def _submitter(self, manifest: DispatchManifest) -> SubmitToExecutor:
        """How nodes of explicit executors are handed over, for one dispatch."""
        nodes = self._adaptor_nodes.setdefault(manifest.dispatch_id, {})
        ray_options: dict[str, dict[str, Any]] = {}  # per executor blob: unpickled once

        def submit(
            key: str, node_id: int, packed: bytes, refs: dict[str, Any] | None, args: list[Any]
        ) -> Any:
            node = manifest.graph.nodes[node_id]
            spec = node.executor
            assert spec is not None and spec.instance_blob is not None
            name = f"{node.name}#{node_id}"
            if spec.short_name == "ray":  # the built-in RayExecutor: a task with its options
                options = ray_options.get(spec.instance_blob)
                if options is None:
                    executor = _serialize.loads(manifest.blobs[spec.instance_blob])
                    options = ray_options[spec.instance_blob] = executor.ray_options()
                return _direct_node.options(name=name, **options).remote(packed, refs, *args)
            with self._adaptor_lock:
                adaptor = self._adaptors.get(key)
                if adaptor is None:
                    adaptor = (
                        ray.remote(ExecutorAdaptor)
                        .options(num_cpus=0, max_concurrency=1000, name=None)
                        .remote(manifest.blobs[spec.instance_blob], key)
                    )
                    self._adaptors[key] = adaptor
                self._adaptor_users.setdefault(key, set()).add(manifest.dispatch_id)
            nodes[node_id] = key
            return adaptor.run.options(name=name).remote(packed, refs, *args)

        return submit

    async def _retire_adaptors(self, dispatch_id: str) -> None:
        """Tear down the adaptors no running dispatch needs any more."""
        keys = set(self._adaptor_nodes.pop(dispatch_id, {}).values())
        retired = []
        with self._adaptor_lock:
            for key in keys:
                users = self._adaptor_users.get(key, set())
                users.discard(dispatch_id)
                if not users:
                    self._adaptor_users.pop(key, None)
                    retired.append(self._adaptors.pop(key))
        for adaptor in retired:
            try:
                await adaptor.teardown.remote()
            except Exception:
                log.exception("tearing down an executor failed")
            ray.kill(adaptor)

    async def _launch(self, manifest: DispatchManifest, reuse: dict[int, str]) -> Run:
        loop = asyncio.get_running_loop()
        plan = self._compile(manifest, reuse)
        results_dir = os.path.join(self.home, "results")
        run = await loop.run_in_executor(
            self._pool, launch, manifest, plan, reuse, self._submitter(manifest), results_dir
        )
        self._runs[manifest.dispatch_id] = run
        loop.create_task(self._watch(run))
        return run

    async def submit(
        self,
        manifest: DispatchManifest,
        want_refs: bool = False,
        reuse_from: str | None = None,
        register: bool = True,
    ) -> Any:
        """Register and launch a dispatch.

        With ``want_refs`` (sublattices) it returns the ObjectRefs of the dispatch's
        outcome and result value. With ``reuse_from``, electrons whose code and inputs are
        unchanged since that dispatch reuse its stored outputs instead of running.
        ``register=False``: the caller registers the dispatch with the result manager
        itself (the SDK does, in parallel, to save a hop).
        """
        await self._recover()
        reuse: dict[int, str] = {}
        reused_rows: dict[int, dict[str, Any]] = {}
        if reuse_from is not None:
            reuse, reused_rows = await self._reusable(manifest, reuse_from)
        if manifest.parent_dispatch_id:
            self._children.setdefault(manifest.parent_dispatch_id, set()).add(manifest.dispatch_id)
        # registration commits while the tasks launch; the client hears back only once
        # both are done (the result manager holds back events that outrun it)
        registered = self._rm.register.remote(manifest, reused_rows) if register else None
        try:
            run = await self._launch(manifest, reuse)
        except Exception as exc:
            if registered is not None:
                await registered
            await self._rm.abort.remote(
                manifest.dispatch_id, Status.FAILED.value, f"launching the dispatch failed: {exc!r}"
            )
            raise
        if registered is not None:
            await registered
        if want_refs:
            return run.outcome_ref, run.value_ref
        return None

    async def _reusable(
        self, manifest: DispatchManifest, previous: str
    ) -> tuple[dict[int, str], dict[int, dict[str, Any]]]:
        old: DispatchManifest | None = await self._rm.load_manifest.remote(previous)
        if old is None:
            return {}, {}
        states = await self._rm.node_outputs.remote(previous)
        reuse = reusable_nodes(old.graph, states, manifest.graph)
        manifest.blobs.update(await self._rm.get_blobs.remote(sorted(set(reuse.values()))))
        reuse = {n: k for n, k in reuse.items() if k in manifest.blobs}
        rows = {
            n: {
                "output_blob": k,
                "output_repr": states[n]["output_repr"],
                "output_json": states[n]["output_json"],
                "reused_from": previous,
            }
            for n, k in reuse.items()
        }
        return reuse, rows

    # -- watch --------------------------------------------------------------------------

    async def _watch(self, run: Run) -> None:
        try:
            await run.outcome_ref
        except Exception as exc:  # the final step could not run: cancelled, or Ray failed
            await self._settle(run)
            if run.dispatch_id in self._cancelled:
                # the electrons not cancelled ended on their own and their records are on
                # the way: end the dispatch like a normal end, once those have arrived
                await self._rm.complete.remote(
                    run.dispatch_id,
                    Status.CANCELLED.value,
                    CANCELLED_BY_USER,
                    sorted(self._cancelled[run.dispatch_id]),
                    {},
                )
            else:
                log.warning("dispatch %s failed in Ray: %s", run.dispatch_id, exc)
                await self._rm.abort.remote(
                    run.dispatch_id, Status.FAILED.value, f"Ray failed to run the dispatch: {exc}"
                )
        finally:
            self._runs.pop(run.dispatch_id, None)
            self._cancelled.pop(run.dispatch_id, None)
            self._children.pop(run.dispatch_id, None)
            await self._retire_adaptors(run.dispatch_id)

    async def _settle(self, run: Run, timeout: float = 600.0) -> None:
        """Wait until every task of ``run`` has ended, without fetching outputs."""
        refs = list(run.refs.values())
        if not refs:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            self._pool,
            lambda: ray.wait(refs, num_returns=len(refs), timeout=timeout, fetch_local=False),
        )

    # -- cancel -------------------------------------------------------------------------

    async def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> dict[str, Any]:
        """Cancel a running dispatch, or only ``task_ids`` and what depends on them."""
        status = await self._rm.status.remote(dispatch_id)
        if status is None:
            raise CancelError(f"no dispatch with ID {dispatch_id!r} is stored; nothing to cancel.")
        if Status(status).is_terminal:
            raise CancelError(
                f"dispatch {dispatch_id} already ended {status}; nothing was changed."
            )
        run = self._runs.get(dispatch_id)
        if run is None:  # registered but not launched here: nothing runs, end it
            await self._rm.abort.remote(
                dispatch_id, Status.CANCELLED.value, CANCELLED_BY_USER, True
            )
            return {"dispatch_id": dispatch_id, "cancelled": []}
        manifest_children = await self._rm.read.remote("graph", dispatch_id)
        children: dict[int, list[int]] = {}
        for e in manifest_children["edges"] if manifest_children else []:
            children.setdefault(e["parent_node_id"], []).append(e["child_node_id"])
        if task_ids is None:
            targets = set(run.refs)
        else:
            unknown = [t for t in task_ids if t not in run.refs]
            if unknown:
                raise CancelError(
                    f"dispatch {dispatch_id} has no running electrons "
                    f"{unknown}; its electrons are {sorted(run.refs)}."
                )
            targets = set(task_ids) | (descendants(children, task_ids) & set(run.refs))
        self._cancelled.setdefault(dispatch_id, set()).update(targets)
        refs = [run.refs[n] for n in sorted(targets)]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
        done = {r for r in ready}
        pending = [n for n in sorted(targets) if run.refs[n] not in done]
        ended = await self._rm.end_nodes.remote(
            dispatch_id, pending, Status.CANCELLED.value, CANCELLED_BY_USER
        )
        on_adaptor = self._adaptor_nodes.get(dispatch_id, {})
        for n in pending:
            key = on_adaptor.get(n)
            if key is None:
                ray.cancel(run.refs[n], force=True)
            else:  # an actor call: cancel it, and have the executor stop its job
                ray.cancel(run.refs[n])
                adaptor = self._adaptors.get(key)
                if adaptor is not None:
                    adaptor.cancel.remote(dispatch_id, n)
        if task_ids is None and run.outcome_ref is not None:
            ray.cancel(run.outcome_ref, force=True)
        for child in list(self._children.get(dispatch_id, ())):
            try:
                await self.cancel(child)
            except CancelError:
                pass
        return {"dispatch_id": dispatch_id, "cancelled": ended}

    async def running(self) -> list[str]:
        """IDs of the dispatches this dispatcher is watching."""
        return list(self._runs)


def _first_line(text: str | None) -> str:
    lines = [line for line in (text or "failed").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "failed"
