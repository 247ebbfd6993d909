"""The dispatcher: turns a manifest into running Ray tasks, watches them end, cancels them,
and picks interrupted dispatches back up.

Policy
------
- **Launch.** A dispatch is registered with the result manager while it is compiled
  (``core.compile``, pure) and launched (``launch``); ``submit`` returns once both are
  done, so the client may exit at once and the workflow still completes. Electrons wait
  on each other's ObjectRefs: the dispatcher is not involved between electrons.
- **One registration path, idempotent.** ``submit`` is the only way a dispatch comes to
  exist, and the client makes its ID. A client that lost its answer to a restart sends
  the same manifest again with ``retry=True``: the dispatch is then looked up first, and
  resumed or left alone, never created or launched twice. ``cancel`` is idempotent the
  same way.
- **Worker deaths.** Ray runs an electron's task again after its worker died only as
  often as the electron's ``retries`` allow (the worker counts those runs as attempts).
  When no run is left, the electron ends FAILED with an attempt naming how its process
  ended (exit code, fatal signal, Ray's out-of-memory killer), and so does the dispatch.
- **Watch.** It awaits only each dispatch's final task, then has the result manager
  commit the outcome (the final task does not wait for it). If that task cannot run because
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
  sublattice electron runs again. A dispatch registered without running
  (``disable_run``, status NEW_OBJECT) is left alone: its triggers start it.
- **Triggers.** Registered triggers run in actors this dispatcher owns
  (``runtime.triggers``); on start it creates one for each active trigger stored. A
  firing (``fire``) starts the registered dispatch if it never ran, else runs it again
  as a new dispatch (``rerun``) that records which dispatch and trigger it came from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ray

from .. import _serialize
from .._exceptions import CancelError, MissingDispatchError
from .._home import NAMESPACE, RESULT_MANAGER_NAME, private_umask
from .._status import Status
from ..core.compile import Plan, compile_plan
from ..core.graph import Node, NodeKind, TransportGraph, descendants
from ..core.manifest import DispatchManifest
from ..core.messages import last_line, node_label, worker_text
from ..core.outcome import Failed
from ..core.reuse import reusable_nodes
from ..core.triggers import FiringAction, TriggerState, firing_action, lineage, trigger_row
from . import ends, heap
from .adaptor import RESUME_JOB_HANDLE, ExecutorAdaptor
from .launch import Run, SubmitToExecutor, launch, ray_retries
from .triggers import TriggerPool
from .worker import node_lost, run_node

log = logging.getLogger(__name__)

CANCELLED_BY_USER = "cancelled by the user"
#: how long a resuming dispatch waits for the workers of its previous run to exit
_HOLDERS_WAIT_S = 30.0
_SWEEP_EVERY_S = 5.0  # at most one sweep of exited workers' journals this often


def _adaptor_idle_s() -> float:
    """How long an adaptor nobody uses is kept (config ``dispatcher.adaptor_idle_s``)."""
    from .._config import raw_config

    try:
        return max(0.0, float(raw_config("dispatcher.adaptor_idle_s", 30.0)))
    except (TypeError, ValueError):
        return 30.0


def _executor_key(node: Node) -> str | None:
    """Which executor runs an electron; None for the default executor (Dask-on-Ray)."""
    return node.executor.key if node.executor is not None else None


_direct_node = ray.remote(run_node)  # electrons of a RayExecutor: plain Ray tasks


def _ping_until_answered(me: Any, give_up_s: float = 3600.0) -> None:
    """Call ``me.ping`` (which resumes interrupted dispatches) until it is answered."""
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline:
        try:
            ray.get(me.ping.remote(), timeout=30)
            return
        except Exception:  # lost or timed out while the actor starts: call again
            log.warning("the dispatcher's first call went unanswered; calling again")
            time.sleep(1.0)


def _resolve(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    if not future.done():
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class Dispatcher:
    """Run as a detached, restartable Ray actor."""

    def __init__(self, home: str) -> None:
        private_umask()  # what this actor writes in the home (logs, objects) stays private
        self.home = home
        self._rm = ray.get_actor(RESULT_MANAGER_NAME, namespace=NAMESPACE)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="covalent-ray-launch")
        self._runs: dict[str, Run] = {}
        self._graphs: dict[str, TransportGraph] = {}  # what each run launched (for cancel)
        self._starting: dict[str, asyncio.Future[Run | None]] = {}  # submits under way
        # their registrations: a submit returns once its dispatch is committed, while
        # its launch goes on (issue 12)
        self._registered: dict[str, asyncio.Future[None]] = {}
        self._children: dict[str, set[str]] = {}
        self._cancelled: dict[str, set[int]] = {}  # dispatch -> electrons cancelled
        self._recovery: asyncio.Task[None] | None = None
        self._adaptors: dict[str, Any] = {}  # executor key -> adaptor actor
        self._adaptor_users: dict[str, set[str]] = {}  # executor key -> dispatches using it
        self._adaptor_nodes: dict[str, dict[int, str]] = {}  # dispatch -> node -> key
        self._adaptor_lock = threading.Lock()  # launches run in threads
        # adaptors no dispatch uses, kept for the next one: key -> when it fell idle
        self._idle: dict[str, float] = {}
        # where the last dispatches' launch time went (benchmarks/profile_dispatch.py)
        self._timings: OrderedDict[str, dict[str, float]] = OrderedDict()
        # dispatches ended since the last sweep of exited workers' journals (runtime.ends)
        self._ended: set[str] = set()
        self._sweep: asyncio.Task[None] | None = None
        self._triggers = TriggerPool()
        self._firing = asyncio.Lock()  # one firing decides start-or-rerun at a time
        # after a crash nobody may call us for a while: make our own first call so
        # interrupted dispatches resume as soon as this actor is up. A call queued while
        # the actor restarts can be lost (seen: a dispatch stayed RUNNING until someone
        # else called), so a thread waits for its answer and calls again until answered.
        threading.Thread(
            target=_ping_until_answered,
            args=(ray.get_runtime_context().current_actor,),
            name="covalent-ray-recover",
            daemon=True,
        ).start()

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
            if dispatch_id in self._runs or row["status"] == Status.NEW_OBJECT:
                continue  # NEW_OBJECT: registered without running; its triggers start it
            if row["parent_dispatch_id"]:
                await self._rm.abort.remote(
                    dispatch_id,
                    Status.FAILED,
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
                    Status.FAILED,
                    f"interrupted: the service restarted while this dispatch ran and it "
                    f"could not be resumed ({exc!r}); redispatch it to run it again.",
                )
        await self._start_stored_triggers()

    async def _resume(self, dispatch_id: str) -> None:
        manifest: DispatchManifest | None = await self._rm.load_manifest.remote(dispatch_id)
        if manifest is None:
            raise RuntimeError("its stored manifest is missing")
        await self._gather_ends(dispatch_id)
        states = await self._rm.node_outputs.remote(dispatch_id)
        reuse: dict[int, str] = {}
        kept: list[Failed] = []
        for node in manifest.graph.nodes:
            state = states.get(node.id, {})
            if node.kind is NodeKind.PARAMETER:
                continue
            node.metadata.pop(RESUME_JOB_HANDLE, None)
            if state.get("status") == Status.COMPLETED and state.get("output_blob"):
                reuse[node.id] = state["output_blob"]
            elif state.get("status") in (Status.FAILED, Status.CANCELLED):
                # keep the failure: its dependants are skipped again, not run
                kept.append(Failed(node.id, node.name, last_line(state.get("error"))))
                marker = _serialize.dumps(kept[-1], "a failure")
                key = _serialize.blob_key(marker)
                manifest.blobs[key] = marker
                reuse[node.id] = key
            elif state.get("job_handle"):  # a remote job was running: find it again
                node.metadata[RESUME_JOB_HANDLE] = state["job_handle"]
        missing = [k for k in set(reuse.values()) if k not in manifest.blobs]
        manifest.blobs.update(await self._rm.get_blobs.remote(missing))
        lost = [n for n, k in reuse.items() if k not in manifest.blobs]
        if lost:
            raise RuntimeError(f"stored outputs of nodes {lost} are missing")
        await self._launch(manifest, reuse, tuple(kept))

    async def _gather_ends(self, dispatch_id: str) -> None:
        """Before deciding what runs again: let the workers of the dead dispatcher that
        still hold an electron of ``dispatch_id`` exit (Ray stops them), then record the
        ends they kept on disk but never saw acknowledged (see ``runtime.ends``)."""
        home = Path(self.home)
        still = await ends.wait_for_holders(home, dispatch_id, timeout=_HOLDERS_WAIT_S)
        if still:
            log.warning(
                "dispatch %s resumes while worker processes %s of its previous run are "
                "still alive; their electrons may run again",
                dispatch_id,
                sorted(still),
            )
        kept = ends.left(home, dispatch_id)
        if kept:
            await self._rm.record.remote(kept)
            ends.forget(home, {dispatch_id})
            log.info("dispatch %s: %d electron ends recorded from disk", dispatch_id, len(kept))

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
                return _direct_node.options(
                    name=name, **{"max_retries": ray_retries(node), **options}
                ).remote(packed, refs, *args)
            with self._adaptor_lock:
                adaptor = self._adaptors.get(key)
                if adaptor is None:
                    adaptor = (
                        ray.remote(ExecutorAdaptor)
                        .options(num_cpus=0, max_concurrency=1000, name=None)
                        .remote(manifest.blobs[spec.instance_blob], key)
                    )
                    self._adaptors[key] = adaptor
                self._idle.pop(key, None)  # an idle one serves again
                self._adaptor_users.setdefault(key, set()).add(manifest.dispatch_id)
            nodes[node_id] = key
            return adaptor.run.options(name=name).remote(packed, refs, *args)

        return submit

    async def adaptors(self) -> list[dict[str, Any]]:
        """Each live executor adaptor: its executor, remote host and running electrons."""
        with self._adaptor_lock:
            live = list(self._adaptors.values())
        described = []
        for adaptor in live:
            try:
                described.append(await adaptor.describe.remote())
            except Exception:  # an adaptor that just died is left out
                continue
        return described

    async def _retire_adaptors(self, dispatch_id: str) -> None:
        """Tear down the adaptors no running dispatch needs any more, once they have
        stood idle for ``dispatcher.adaptor_idle_s`` (the next dispatch to use the same
        executor finds its connection and setup ready)."""
        keys = set(self._adaptor_nodes.pop(dispatch_id, {}).values())
        idle = []
        with self._adaptor_lock:
            for key in keys:
                users = self._adaptor_users.get(key, set())
                users.discard(dispatch_id)
                if not users:
                    self._adaptor_users.pop(key, None)
                    self._idle[key] = time.monotonic()
                    idle.append(key)
        if not idle:
            return
        wait = _adaptor_idle_s()
        if wait > 0:
            await asyncio.sleep(wait)
        retired = []
        with self._adaptor_lock:
            for key in idle:
                since = self._idle.get(key)
                if since is not None and time.monotonic() - since >= wait:
                    del self._idle[key]
                    retired.append(self._adaptors.pop(key))
        for adaptor in retired:
            try:
                await adaptor.teardown.remote()
            except Exception:
                log.exception("tearing down an executor failed")
            ray.kill(adaptor)

    async def _launch(
        self,
        manifest: DispatchManifest,
        reuse: dict[int, str],
        kept_failures: tuple[Failed, ...] = (),
    ) -> Run:
        loop = asyncio.get_running_loop()
        received = time.time()
        plan = self._compile(manifest, reuse)
        compiled = time.time()
        submit = self._submitter(manifest)
        run = await loop.run_in_executor(
            self._pool,
            lambda: launch(manifest, plan, reuse, submit, self.home, kept_failures=kept_failures),
        )
        self._timings[manifest.dispatch_id] = {
            **run.timings,  # first_submitted: when the first task was handed to Ray
            "received": received,
            "compiled": compiled,
            "submitted": time.time(),
        }
        while len(self._timings) > 256:
            self._timings.popitem(last=False)
        self._runs[manifest.dispatch_id] = run
        self._graphs[manifest.dispatch_id] = manifest.graph
        loop.create_task(self._watch(run))
        return run

    async def timings(self, dispatch_id: str) -> dict[str, float] | None:
        """When the dispatcher received, compiled and submitted one of its last 256
        dispatches (epoch seconds), for benchmarks/profile_dispatch.py."""
        return self._timings.get(dispatch_id)

    async def submit(
        self,
        manifest: DispatchManifest,
        *,
        want_refs: bool = False,
        reuse_from: str | None = None,
        retry: bool = False,
        pending: bool = False,
    ) -> Any:
        """Register and launch a dispatch; the only way a dispatch comes to exist.

        With ``want_refs`` (sublattices) it returns the ObjectRefs of the dispatch's
        outcome and result value. With ``reuse_from``, electrons whose code and inputs are
        unchanged since that dispatch reuse its stored outputs instead of running.

        Idempotent by dispatch ID (the client makes the ID): ``retry`` says the caller may
        have sent this manifest before (to this dispatcher or to one that has since died),
        so the dispatch is looked up first and launched only if nobody runs it, never
        created twice. A first try registers and launches at the same time; without
        ``want_refs`` the call returns once the registration is committed, while the
        launch goes on (a launch that fails then ends the dispatch FAILED, saying why).

        With ``pending`` (``ct.dispatch(..., disable_run=True)``) the dispatch is only
        registered, NEW_OBJECT: the first firing of its triggers (or ``start``) runs it.
        """
        await self._recover()
        dispatch_id = manifest.dispatch_id
        if pending:
            await self._rm.register.remote(manifest, None, check=True, pending=True)
            return None
        run = self._runs.get(dispatch_id)
        if run is None:
            starting = self._starting.get(dispatch_id)
            if starting is None:
                registered = asyncio.get_running_loop().create_future()
                self._registered[dispatch_id] = registered
                starting = asyncio.ensure_future(
                    self._start(manifest, reuse_from, retry, registered)
                )
                self._starting[dispatch_id] = starting

                def started(done: asyncio.Future[Run | None]) -> None:
                    self._starting.pop(dispatch_id, None)
                    self._registered.pop(dispatch_id, None)
                    if not done.cancelled() and done.exception() is not None:
                        log.warning("dispatch %s: %s", dispatch_id, done.exception())

                starting.add_done_callback(started)
            registration = self._registered.get(dispatch_id)
            if not want_refs and registration is not None:
                await asyncio.shield(registration)
                return None
            run = await asyncio.shield(starting)
        if not want_refs:
            return None
        if run is None:
            raise CancelError(
                f"dispatch {dispatch_id} has already ended; its outcome is stored (read it "
                "with ct.get_result)."
            )
        return run.outcome_ref, run.value_ref

    async def _start(
        self,
        manifest: DispatchManifest,
        reuse_from: str | None,
        retry: bool,
        registered: asyncio.Future[None],
    ) -> Run | None:
        """Register and launch ``manifest``; None if it existed already and has ended.
        ``registered`` is resolved once the registration is committed (or has failed)."""
        try:
            reuse: dict[int, str] = {}
            reused_rows: dict[int, dict[str, Any]] = {}
            if reuse_from is not None:
                reuse, reused_rows = await self._reusable(manifest, reuse_from)
            if manifest.parent_dispatch_id:
                self._children.setdefault(manifest.parent_dispatch_id, set()).add(
                    manifest.dispatch_id
                )
            started = time.time()  # before any electron can start: the dispatch's start time
            if retry:  # it may exist: register first, and resume what exists
                existing = await self._rm.register.remote(
                    manifest, reused_rows, check=True, started=started
                )
                _resolve(registered)
                if existing is not None:
                    if Status(existing).is_terminal:
                        return None
                    await self._resume(manifest.dispatch_id)
                    return self._runs.get(manifest.dispatch_id)
                return await self._launch_registered(manifest, reuse)
        except BaseException as exc:
            _resolve(registered, exc)
            raise
        # a new ID: registration commits while the tasks launch (the result manager
        # holds back events that outrun the registration)
        registration = asyncio.ensure_future(
            self._register(manifest, reused_rows, started, registered)
        )
        try:
            run = await self._launch(manifest, reuse)
        except Exception as exc:
            if await registration:
                await self._rm.abort.remote(
                    manifest.dispatch_id, Status.FAILED, f"launching the dispatch failed: {exc!r}"
                )
            raise
        if not await registration:  # no dispatch exists: its tasks must not run either
            self._runs.pop(manifest.dispatch_id, None)
            self._graphs.pop(manifest.dispatch_id, None)
            for ref in list(run.refs.values()):
                ray.cancel(ref, recursive=True)
            return None
        return run

    async def _register(
        self,
        manifest: DispatchManifest,
        reused_rows: dict[int, dict[str, Any]],
        started: float,
        registered: asyncio.Future[None],
    ) -> bool:
        """Register a new dispatch; whether that worked (the caller hears why not)."""
        try:
            await self._rm.register.remote(manifest, reused_rows, started=started)
        except Exception as exc:
            _resolve(registered, exc)
            return False
        _resolve(registered)
        return True

    async def _launch_registered(self, manifest: DispatchManifest, reuse: dict[int, str]) -> Run:
        try:
            return await self._launch(manifest, reuse)
        except Exception as exc:
            await self._rm.abort.remote(
                manifest.dispatch_id, Status.FAILED, f"launching the dispatch failed: {exc!r}"
            )
            raise

    async def start(self, dispatch_id: str) -> bool:
        """Run a dispatch registered without running (NEW_OBJECT) under its own ID; False
        if it is not NEW_OBJECT (it runs or ran already: nothing changed)."""
        await self._recover()
        if dispatch_id in self._runs or dispatch_id in self._starting:
            return False
        manifest: DispatchManifest | None = await self._rm.load_manifest.remote(dispatch_id)
        if manifest is None:
            raise MissingDispatchError(f"dispatch {dispatch_id} has no stored manifest to run.")
        if not await self._rm.mark_started.remote(dispatch_id, time.time()):
            return False
        try:
            await self._launch(manifest, {})
        except Exception as exc:
            await self._rm.abort.remote(
                dispatch_id, Status.FAILED, f"launching the dispatch failed: {exc!r}"
            )
            raise
        return True

    async def fire(self, dispatch_id: str, trigger_id: str | None = None) -> str:
        """One firing of a trigger of ``dispatch_id``: start it if it never ran (its ID is
        returned), else run it again as a new dispatch recording its lineage (the new ID
        is returned). Covalent's ``BaseTrigger.trigger``."""
        async with self._firing:  # two firings never both start the registered dispatch
            status = await self._rm.status.remote(dispatch_id)
            if status is None:
                raise MissingDispatchError(
                    f"a trigger fired for dispatch {dispatch_id}, which is not stored (was "
                    f"it deleted?); stop its triggers: ct.stop_triggers({dispatch_id!r})."
                )
            started = firing_action(status) is FiringAction.START and await self.start(dispatch_id)
        if started:
            new_id = dispatch_id
        else:
            new_id = await self.rerun(dispatch_id, trigger_id=trigger_id, triggered=True)
        if trigger_id is not None:
            await self._rm.trigger_fired.remote(trigger_id)
        return new_id

    # -- triggers -----------------------------------------------------------------------

    async def register_triggers(self, specs: list[Any]) -> list[str]:
        """Store triggers (``core.triggers.TriggerSpec``) and start their actors; returns
        their IDs. A trigger whose observer cannot start is stopped and its error raised."""
        await self._recover()
        now = self._now()
        await self._rm.add_triggers.remote([trigger_row(s, now) for s in specs])
        me = ray.get_runtime_context().current_actor
        for spec in specs:
            started = self._triggers.start(spec.trigger_id, spec.dispatch_id, spec.data, me)
            if started is None:
                continue
            try:
                await started
            except Exception:
                await self._rm.stop_triggers.remote([spec.dispatch_id])
                await self._triggers.stop([s.trigger_id for s in specs])
                raise
        return [s.trigger_id for s in specs]

    async def stop_triggers(self, dispatch_ids: list[str]) -> list[str]:
        """Stop every active trigger of these dispatches (and mark them stopped)."""
        await self._recover()
        stopped = await self._rm.stop_triggers.remote(dispatch_ids)
        await self._triggers.stop(stopped)
        return list(stopped)

    async def triggers(self) -> dict[str, dict[str, Any]]:
        """The live state of each running trigger, by trigger ID (once the triggers stored
        are running again, after a restart)."""
        await self._recover()
        return await self._triggers.describe()

    async def _start_stored_triggers(self) -> None:
        rows = await self._rm.triggers.remote(state=TriggerState.ACTIVE.value, data=True)
        me = ray.get_runtime_context().current_actor
        for row in rows:
            started = self._triggers.start(
                row["trigger_id"], row["dispatch_id"], row["trigger_data"], me
            )
            if started is None:
                continue
            try:
                await started
                log.info("started trigger %s of dispatch %s", row["trigger_id"], row["dispatch_id"])
            except Exception as exc:
                log.exception("cannot start trigger %s", row["trigger_id"])
                await self._rm.trigger_fired.remote(
                    row["trigger_id"], f"could not start after a restart: {exc!r}"
                )

    @staticmethod
    def _now() -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC).replace(tzinfo=None)  # the schema's naive UTC

    async def rerun(
        self,
        dispatch_id: str,
        reuse_previous_results: bool = False,
        *,
        trigger_id: str | None = None,
        triggered: bool = False,
    ) -> str:
        """Run a stored dispatch again as it was stored: the same graph, functions and
        inputs, under a new dispatch ID (returned once registered and launched).

        Nothing is unpickled here and no user code runs in this process: the stored
        manifest's graph is launched as is, and its electrons unpickle their functions and
        inputs on the workers, as they did the first time. (``ct.redispatch`` rebuilds
        the graph instead, running the lattice's body in the caller's process.)"""
        stored: DispatchManifest | None = await self._rm.load_manifest.remote(dispatch_id)
        if stored is None:
            raise MissingDispatchError(
                f"dispatch {dispatch_id} has no stored manifest to run again; redispatch "
                f"it from Python instead: ct.redispatch({dispatch_id!r})()."
            )
        came_from = lineage(dispatch_id, trigger_id) if triggered else lineage(None, None)
        manifest = dataclasses.replace(
            stored,
            dispatch_id=str(uuid.uuid4()),
            parent_dispatch_id=None,
            parent_node_id=None,
            root_dispatch_id=None,
            triggered_by=came_from["triggered_by"],
            trigger_id=came_from["trigger_id"],
        )
        await self.submit(manifest, reuse_from=dispatch_id if reuse_previous_results else None)
        return manifest.dispatch_id

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
            outcome = await run.outcome_ref  # type: ignore[misc]
        except Exception as exc:  # the final step could not run: cancelled, or Ray failed
            await self._settle(run)
            if run.dispatch_id in self._cancelled:
                # the electrons not cancelled ended on their own and their records are on
                # the way: end the dispatch like a normal end, once those have arrived
                await self._rm.complete.remote(
                    run.dispatch_id,
                    Status.CANCELLED,
                    CANCELLED_BY_USER,
                    sorted(self._cancelled[run.dispatch_id]),
                    {},
                )
            else:
                log.warning("dispatch %s failed in Ray: %s", run.dispatch_id, exc)
                try:
                    lost = await self._explain_lost(run)
                except Exception:
                    log.exception("explaining the failure of dispatch %s failed", run.dispatch_id)
                    lost = []
                error = "\n".join(lost) or f"Ray failed to run the dispatch: {last_line(str(exc))}"
                await self._rm.abort.remote(run.dispatch_id, Status.FAILED, error)
        else:
            # the final task decided the outcome and did not wait for its commit (see
            # worker.finalize); the result's stored form goes to the result manager as an
            # ObjectRef that Ray resolves there, so it never passes through this actor
            await self._rm.complete.remote(
                run.dispatch_id, outcome.status, outcome.error, list(outcome.failed), run.fields_ref
            )
        finally:
            self._forget_ends(run.dispatch_id)
            self._runs.pop(run.dispatch_id, None)
            self._graphs.pop(run.dispatch_id, None)
            self._cancelled.pop(run.dispatch_id, None)
            self._children.pop(run.dispatch_id, None)
            await self._retire_adaptors(run.dispatch_id)

    def _forget_ends(self, dispatch_id: str) -> None:
        """``dispatch_id`` ended: drop its ends from the journals of exited workers, in
        one sweep every few seconds for all dispatches ended meanwhile (``runtime.ends``),
        and give the memory they freed back to the system (``runtime.heap``)."""
        self._ended.add(dispatch_id)
        if self._sweep is not None and not self._sweep.done():
            return

        async def sweep() -> None:
            await asyncio.sleep(_SWEEP_EVERY_S)
            ended, self._ended = self._ended, set()
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._pool, ends.forget, Path(self.home), ended
                )
            except Exception:
                log.exception("sweeping the ends of exited workers failed")
            heap.trim()  # what the ended dispatches' graphs held goes back to the system

        self._sweep = asyncio.get_running_loop().create_task(sweep())

    async def _explain_lost(self, run: Run) -> list[str]:
        """Electrons whose Ray task failed (its worker died, the node was lost...): end
        each FAILED, with an attempt saying how, and return those messages."""
        from ray.exceptions import RayTaskError

        states = await self._rm.node_outputs.remote(run.dispatch_id)
        messages, events = [], []
        for node_id, ref in sorted(run.refs.items()):
            state = states.get(node_id)
            if state is None or Status(state["status"]).is_terminal:
                continue
            try:
                await asyncio.wait_for(asyncio.wrap_future(ref.future()), 30)
                continue  # it ran to the end; only its record was lost
            except RayTaskError:
                continue  # an upstream task's failure handed down: it never ran
            except Exception as exc:
                state = _with_marker(state, run.dispatch_id, node_id)
                text = lost_text(state, node_id, run.dispatch_id, exc)
            messages.append(text)
            attempt = int(state.get("attempt") or 1)
            recorded = f"during attempt {attempt}" in (state.get("error") or "")
            row = {
                "attempt": attempt,
                "status": Status.FAILED,
                "start_time": None,
                "end_time": time.time(),
                "error": text,
                "ray_node_id": state.get("ray_node_id"),
                "worker_pid": state.get("worker_pid"),
            }
            events.append(
                {
                    "dispatch_id": run.dispatch_id,
                    "node_id": node_id,
                    "status": Status.FAILED,
                    "end_time": time.time(),
                    "error": text,
                    "attempts": [] if recorded else [row],
                }
            )
        if events:
            await self._rm.record.remote(events)
        return messages

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

    async def cancel(
        self, dispatch_id: str, task_ids: list[int] | None = None, *, retry: bool = False
    ) -> dict[str, Any]:
        """Cancel a running dispatch, or only ``task_ids`` and what depends on them.

        ``retry``: the caller may have sent this cancel before (to a dispatcher that died
        meanwhile); a dispatch that ended CANCELLED then answers with its cancelled
        electrons instead of an error."""
        await self._recover()
        starting = self._starting.get(dispatch_id)
        if starting is not None:  # being launched right now: cancel what it launches
            await asyncio.shield(starting)
        status = await self._rm.status.remote(dispatch_id)
        if status is None:
            raise CancelError(f"no dispatch with ID {dispatch_id!r} is stored; nothing to cancel.")
        if retry and status == Status.CANCELLED:
            states = await self._rm.node_outputs.remote(dispatch_id)
            cancelled = [n for n, row in states.items() if row["status"] == status]
            if task_ids is not None:
                cancelled = [n for n in cancelled if n in set(task_ids)]
            return {"dispatch_id": dispatch_id, "cancelled": sorted(cancelled)}
        if Status(status).is_terminal:
            raise CancelError(
                f"dispatch {dispatch_id} already ended {status}; nothing was changed."
            )
        run = self._runs.get(dispatch_id)
        if run is None:  # registered but not launched here: nothing runs, end it
            await self._rm.abort.remote(dispatch_id, Status.CANCELLED, CANCELLED_BY_USER, True)
            return {"dispatch_id": dispatch_id, "cancelled": []}
        children = self._graphs[dispatch_id].children()
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
            dispatch_id, pending, Status.CANCELLED, CANCELLED_BY_USER
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
                await self.cancel(child, retry=True)
            except CancelError:
                pass
        return {"dispatch_id": dispatch_id, "cancelled": ended}


def lost_text(state: dict[str, Any], node_id: int, dispatch_id: str, exc: BaseException) -> str:
    """Why an electron's Ray task failed, naming the electron and how its process died."""
    from ray.exceptions import OutOfMemoryError, WorkerCrashedError

    label = node_label(state.get("name"), node_id, dispatch_id)
    pid = state.get("worker_pid")
    attempt = state.get("attempt") or 1
    if f"during attempt {attempt}" in (state.get("error") or ""):
        return str(state["error"])  # the attempt said how it ended (os._exit)
    if node_lost(state.get("ray_node_id")):
        return (
            f"{label} failed: its {worker_text(pid, state.get('ray_node_id'), True)} "
            f"during attempt {attempt}; the electron sets no retries left to run it again "
            "elsewhere (give it retries= to survive the loss of a node)"
        )
    if isinstance(exc, OutOfMemoryError):
        return (
            f"{label} failed: its worker process{f' (pid {pid})' if pid else ''} was killed by "
            f"Ray's out-of-memory killer (the node ran low on memory) during attempt "
            f"{attempt}. Give the electron less work or more memory "
            "(RayExecutor(memory=...) only reserves memory; it does not limit it)."
        )
    if isinstance(exc, WorkerCrashedError):
        signal_name = state.get("signal")
        how = (
            f"received {signal_name}"
            if signal_name
            else (
                "was killed by a signal (SIGKILL, or the kernel's out-of-memory killer) or crashed"
            )
        )
        return (
            f"{label} failed: its worker process{f' (pid {pid})' if pid else ''} {how} during "
            f"attempt {attempt}"
        )
    return f"{label} failed: Ray lost its task: {type(exc).__name__}: {last_line(str(exc))}"


def _with_marker(state: dict[str, Any], dispatch_id: str, node_id: int) -> dict[str, Any]:
    """``state`` with what the electron's running marker (on this node) says: the worker
    pid and attempt (its RUNNING event may have been lost with the process) and the fatal
    signal faulthandler wrote there."""
    words = ends.last_words(dispatch_id, node_id)
    if words is None:
        return state
    pid, attempt, rest = words
    found = re.findall(r"Fatal Python error: ([A-Za-z -]+)", rest)
    noted = {"signal": _SIGNALS.get(found[-1].strip(), found[-1].strip())} if found else {}
    if state.get("worker_pid"):
        return {**state, **noted}
    return {**state, "worker_pid": pid, "attempt": attempt, **noted}


#: faulthandler's words for the signals it reports
_SIGNALS = {
    "Segmentation fault": "SIGSEGV",
    "Bus error": "SIGBUS",
    "Aborted": "SIGABRT",
    "Floating-point exception": "SIGFPE",
    "Floating point exception": "SIGFPE",
    "Illegal instruction": "SIGILL",
}
