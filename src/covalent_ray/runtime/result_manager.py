"""The result manager: the only process that writes the results database.

Policy
------
- **One writer, group commits.** Every write (a new dispatch, electron events, a
  dispatch's end) is queued; a single writer thread applies everything queued so far in
  one transaction, then acknowledges those calls together. Throughput therefore grows with
  load instead of being bounded by one transaction per event.
- **Acknowledged means committed.** ``register`` and ``complete`` return only after their
  commit, so a client told "dispatched" can exit and a dispatch reported finished is on
  disk. ``record`` (electron events) is fire-and-forget for the sender.
- **Events are merged, never regress.** Events about one electron travel as independent
  calls and may arrive out of order; a state replaces another only if its status ranks
  at least as high (``_status.advances``), so a late RUNNING never hides a COMPLETED.
- **A dispatch ends once its electrons' records are in.** ``complete`` (sent by the
  dispatch's final task) waits until every electron that ran has reported its end;
  electrons downstream of a failure never run and stay NEW_OBJECT. Only then is the
  dispatch's status written, so a finished dispatch never shows a running electron.
- **State is rebuilt from the database.** A restarted manager re-reads unfinished
  dispatches on demand; nothing it holds in memory is the only copy of a committed fact.

The jobs live beside it: the group commits in ``runtime.commits``, the change feed in
``runtime.changes``, the translation of manifests and events into rows in
``storage.rows`` (pure), the batch's transaction in ``storage.batch``, the composite
reads in ``storage.reads``, the in-memory views in ``runtime.active``. This actor only
routes calls between them.

In-memory state
---------------
- ``_active``: dispatch_id -> ``Active`` for each unfinished dispatch it has seen (node
  states, kinds, children, and while small the ``Memo`` of its ``get_result``).
- ``_commits``: the ``GroupCommitter`` and its pending ``WriteBatch`` (``_batch``).
- ``_finished``: dispatch_id -> ``Ended``, for the callers of ``wait`` on a running one.
- ``_recent``: the ``get_result`` answers of the last ``RECENT_ENDS`` ended dispatches.
- ``_parked``: events that outran their dispatch's registration (kept ten minutes).
- ``_registered``: dispatch_id -> event set once its registration is committed.
- ``_feed``: the ``ChangeFeed`` of status changes for the live stream.
- ``_node_updates``, ``_registrations``, ``_record_calls``: counters reported by
  ``stats``.
- ``_restarted``: whether this process replaces one that died (registrations are then
  checked against the database, since Ray re-sends the calls that were under way).
- ``_sql_sandbox``: the SQL sandbox service (``storage.sql``), started on first query.
- ``_metrics``: the counters and histograms of ``/metrics`` (``runtime.metrics``).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from .._home import db_path, objects_dir, private_umask
from .._status import Status
from ..core.graph import descendants
from ..core.manifest import DispatchManifest
from ..core.messages import (
    AttemptRow,
    DispatchRow,
    EdgeRow,
    ElectronDetail,
    ElectronEvent,
    GraphView,
    NodeRow,
    ResultFields,
    ResultRecord,
    TimelineView,
)
from ..core.triggers import public_row
from ..storage import reads
from ..storage import repository as repo
from ..storage.batch import WriteBatch, write_batch
from ..storage.blobs import BlobStore
from ..storage.rows import apply_event, attempt_row, registration_rows, timestamp
from ..storage.transaction import transaction
from .active import Active, Ended
from .changes import ChangeFeed
from .commits import GroupCommitter
from .metrics import ResultManagerMetrics

COMPLETE_WAIT_S = 30.0  # how long a dispatch's end waits for straggling electron events
REGISTRATION_WAIT_S = 30.0  # how long an early event waits for its dispatch's registration
RECENT_ENDS = 64  # ended dispatches whose get_result is answered from memory


def _was_restarted() -> bool:
    """Whether this actor process replaces one that died."""
    import warnings

    import ray

    if not ray.is_initialized():  # not in an actor (tests build the class directly)
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's own deprecated property inside
            return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except Exception:
        return False


class ResultManager:
    """Owner of the results database (run as a detached, restartable Ray actor)."""

    def __init__(self, home: str) -> None:
        private_umask()  # the database, its WAL and stored objects: 0600
        self.home = Path(home)
        self._con = repo.connect(db_path(self.home))
        self._blobs = BlobStore(objects_dir(self.home))
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="covalent-ray-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="covalent-ray-reader")
        self._commits = GroupCommitter(
            WriteBatch,
            lambda batch: write_batch(self._con, self._blobs, batch),
            self._writer,
            on_commit=self._count,
        )
        self._active: dict[str, Active] = {}
        self._finished: dict[str, Ended] = {}  # set when the dispatch has ended
        self._recent: OrderedDict[str, ResultRecord] = OrderedDict()  # see Memo
        self._node_updates = 0
        self._registrations = 0
        self._record_calls = 0  # calls of ``record``: the reporters' batches
        # events that outran their dispatch's registration: dispatch -> (since, events)
        self._parked: dict[str, tuple[float, list[ElectronEvent]]] = {}
        self._registered: dict[str, asyncio.Event] = {}
        self._feed = ChangeFeed()
        self._restarted = _was_restarted()
        self._metrics = ResultManagerMetrics()

    # -- plumbing ---------------------------------------------------------------------

    @property
    def _batch(self) -> WriteBatch:
        """The writes waiting for the next group commit."""
        return self._commits.batch

    def _count(self, batch: WriteBatch, seconds: float) -> None:
        self._node_updates += len(batch.nodes)
        self._registrations += len(batch.registrations)
        self._metrics.committed(seconds, len(batch.nodes))

    async def _commit(self) -> None:
        """Wait until everything queued so far is committed."""
        await self._commits.commit()

    async def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            cursor = self._con.cursor()
            try:
                return fn(cursor, *args, **kwargs)
            finally:
                cursor.close()

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _publish(self, change: dict[str, Any]) -> None:
        self._feed.publish(change)

    def _publish_node(self, active: Active, node_id: int, status: Status) -> None:
        change = {
            "type": "electron",
            "dispatch_id": active.dispatch_id,
            "node_id": node_id,
            "status": status,
        }
        if active.held is not None:
            active.held.append(change)
        else:
            self._publish(change)

    # -- writes -------------------------------------------------------------------------

    async def ping(self) -> str:
        """Liveness check."""
        return "ok"

    async def pid(self) -> int:
        """The actor's process id (diagnostics, crash tests)."""
        return os.getpid()

    async def register(
        self,
        manifest: DispatchManifest,
        reused: dict[int, dict[str, Any]] | None = None,
        check: bool = False,
        started: float | None = None,
        pending: bool = False,
    ) -> Status | None:
        """Store a new dispatch with its graph and blobs; returns once committed.

        ``reused`` gives electrons whose output is taken from an earlier dispatch (their
        ``output_blob``/``output_repr``/``output_json`` and ``reused_from``): they are
        stored COMPLETED, with equal start and end times. ``started`` (epoch seconds) is
        when the dispatcher began the dispatch, before any of its electrons could start:
        the dispatch's start time (now, when not given). A ``pending`` dispatch is stored
        NEW_OBJECT, not started (``ct.dispatch(..., disable_run=True)``): ``mark_started``
        starts it when a trigger fires.

        Idempotent: an ID registered before changes nothing and answers its stored status
        (None: newly registered). The database is asked when the caller says the ID may
        exist (``check``) or when this actor was restarted (Ray then re-sends calls that
        were under way, which may have committed before the crash)."""
        if manifest.dispatch_id in self._active:
            return Status.RUNNING
        if check or self._restarted:
            row = await self._read(repo.get_dispatch, manifest.dispatch_id)
            if row is not None:
                return Status(row["status"])
            if manifest.dispatch_id in self._active:  # registered while we read
                return Status.RUNNING
        rows = registration_rows(manifest, reused, timestamp(started) or repo.now(), pending)
        self._active[manifest.dispatch_id] = Active.registered(manifest, rows, reused)
        self._batch.registrations.append((rows.dispatch, rows.nodes, rows.edges))
        self._batch.blobs.update(manifest.blobs)
        self._batch.blobs[rows.skeleton_key] = rows.skeleton_data
        active = self._active[manifest.dispatch_id]
        active.held = []  # the feed shows the dispatch before any of its electrons
        try:
            parked = self._parked.pop(manifest.dispatch_id, None)
            if parked:
                await self.record(parked[1])
            await self._commit()
            self._registered.setdefault(manifest.dispatch_id, asyncio.Event()).set()
            self._publish(
                {
                    "type": "dispatch",
                    "dispatch_id": manifest.dispatch_id,
                    "status": rows.dispatch["status"],
                    "parent": manifest.parent_dispatch_id,
                }
            )
        finally:
            held, active.held = active.held, None
            for change in held:
                self._publish(change)
        return None

    async def mark_started(self, dispatch_id: str, started: float) -> bool:
        """Start a dispatch registered without running (NEW_OBJECT): it becomes RUNNING
        with ``started`` (epoch seconds) as its start time. False (nothing changed) when
        it is unknown or not NEW_OBJECT; returns once committed."""
        active, _ = await self._lookup(dispatch_id)
        row = await self._read(repo.get_dispatch, dispatch_id)
        if active is None or row is None or row["status"] != Status.NEW_OBJECT:
            return False
        update = {"status": Status.RUNNING, "start_time": timestamp(started)}
        if active.memo is not None:
            active.memo.row.update(update)
        self._batch.dispatch_updates.append((dispatch_id, update))
        await self._commit()
        self._publish({"type": "dispatch", "dispatch_id": dispatch_id, "status": Status.RUNNING})
        return True

    # -- triggers (the rows of core.triggers; the actors are runtime.triggers') -------

    async def _write(self, fn: Any, *args: Any) -> Any:
        """Run one write on the writer thread, after everything queued so far."""
        await self._commit()

        def run() -> Any:
            with transaction(self._con) as con:
                return fn(con, *args)

        return await asyncio.get_running_loop().run_in_executor(self._writer, run)

    async def add_triggers(self, rows: list[dict[str, Any]]) -> list[str]:
        """Store registered triggers (``core.triggers.trigger_row``); returns the IDs
        newly stored (a trigger sent again is stored once)."""

        def add(con: Any) -> list[str]:
            return [r["trigger_id"] for r in rows if repo.insert_trigger(con, r)]

        return cast(list[str], await self._write(add))

    async def stop_triggers(self, dispatch_ids: list[str]) -> list[str]:
        """Mark the active triggers of these dispatches stopped; returns their IDs."""
        return cast(list[str], await self._write(repo.stop_triggers, dispatch_ids, repo.now()))

    async def trigger_fired(self, trigger_id: str, error: str | None = None) -> None:
        """Count a firing of a trigger, with the error it met (None if it worked)."""
        await self._write(repo.trigger_fired, trigger_id, repo.now(), error)

    async def triggers(
        self, state: str | None = None, dispatch_id: str | None = None, data: bool = False
    ) -> list[dict[str, Any]]:
        """Registered triggers, oldest first (``repository.list_triggers``); as JSON values
        (``core.triggers.public_row``) unless ``data`` asks for the pickled triggers."""
        rows = await self._read(repo.list_triggers, state=state, dispatch_id=dispatch_id, data=data)
        return list(rows) if data else [public_row(r) for r in rows]

    async def trigger_lineage(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch's triggers and lineage (``repository.trigger_lineage``), as JSON
        values; None for an unknown dispatch."""
        found = await self._read(repo.trigger_lineage, dispatch_id)
        if found is None:
            return None
        found["triggers"] = [public_row(r) for r in found["triggers"]]
        found["runs"] = [public_row(r) for r in found["runs"]]
        return cast(dict[str, Any], found)

    async def _await_registered(self, dispatch_id: str, timeout: float = 60.0) -> Active | None:
        """The active view of a dispatch, waiting for a registration still in flight."""
        active, exists = await self._lookup(dispatch_id)
        if active is not None or exists:
            return active
        event = self._registered.setdefault(dispatch_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            if self._registered.get(dispatch_id) is event and not event.is_set():
                del self._registered[dispatch_id]  # never registered: forget it
            return None
        return await self._load_active(dispatch_id)

    async def _load_active(self, dispatch_id: str) -> Active | None:
        """The in-memory view of an unfinished dispatch (rebuilt from the database)."""
        return (await self._lookup(dispatch_id))[0]

    async def _lookup(self, dispatch_id: str) -> tuple[Active | None, bool]:
        """The active view of a dispatch, and whether the database knows the dispatch
        (a known dispatch without an active view has ended)."""
        if dispatch_id in self._active:
            return self._active[dispatch_id], True
        if dispatch_id in self._recent:  # ended lately: late events need no read
            return None, True

        def load(cur: Any) -> tuple[Any, Any, Any]:
            row = repo.get_dispatch(cur, dispatch_id)
            if row is None or Status(row["status"]).is_terminal:
                return row, None, None  # a late event of an ended dispatch reads no graph
            return row, repo.get_nodes(cur, dispatch_id), repo.get_edges(cur, dispatch_id)

        row, node_rows, edge_rows = await self._read(load)
        if row is None or Status(row["status"]).is_terminal:
            return None, row is not None
        if dispatch_id in self._active:  # loaded concurrently
            return self._active[dispatch_id], True
        active = Active.from_rows(dispatch_id, node_rows, edge_rows)
        self._active[dispatch_id] = active
        return active, True

    async def record(self, events: Sequence[ElectronEvent]) -> None:
        """Merge electron events; returns once they are committed (the worker's reporter
        waits for that, and sends the batch again if this process died first).

        An event that outruns its dispatch's registration waits for it (the registration
        is on its way: the dispatcher sends it while the electrons launch), so the answer
        still means committed; one whose registration never comes within
        ``REGISTRATION_WAIT_S`` is kept in memory, applied if it comes later."""
        self._record_calls += 1
        for event in events:
            active = self._active.get(event["dispatch_id"])
            if active is None:
                active, exists = await self._lookup(event["dispatch_id"])
                if active is None and not exists:
                    active = await self._await_registered(event["dispatch_id"], REGISTRATION_WAIT_S)
                    if active is None and event["dispatch_id"] not in self._active:
                        self._park(event)
                        continue
                    active = active or self._active.get(event["dispatch_id"])
                if active is None:
                    continue  # the dispatch has ended: nothing to change
            node_id = int(event["node_id"])
            state = active.nodes.get(node_id)
            if state is None:
                continue
            before = {"status": state["status"], "attempt": state.get("attempt")}
            if not apply_event(state, event):
                continue
            if node_id in active.executors:
                self._metrics.electron_event(active.executors[node_id], before, state)
            if event.get("output_file"):  # written where it was made: record the file
                self._batch.files[event["output_blob"]] = (
                    int(event["output_size"]),
                    event["output_file"],
                )
                active.memo = None  # a large output is read from its file
            elif (data := event.get("output_data")) is not None:
                self._batch.blobs[event["output_blob"]] = data
                if active.memo is not None and not active.memo.keep(event["output_blob"], data):
                    active.memo = None
            if event.get("sub_dispatch_id"):
                active.memo = None  # its children are read back with it
            for tried in event.get("attempts") or ():
                attempt = attempt_row(active.dispatch_id, node_id, tried)
                self._batch.attempts.append(attempt)
                if active.memo is not None:
                    active.memo.attempts.setdefault(node_id, []).append(
                        cast(AttemptRow, {c: attempt.get(c) for c in repo.ATTEMPT_COLUMNS})
                    )
            self._batch.nodes[(active.dispatch_id, node_id)] = dict(state)
            active.changed.set()
            self._publish_node(active, node_id, state["status"])
        # return only once committed: if this process dies first, Ray retries the call
        # on the restarted manager, so no event is lost
        await self._commit()

    async def complete(
        self,
        dispatch_id: str,
        status: Status,
        error: str | None,
        failed: list[int],
        fields: ResultFields,
    ) -> None:
        """Record a dispatch's end (sent by its final task); returns once committed."""
        status = Status(status)
        active = await self._await_registered(dispatch_id)
        if active is not None:
            skipped = descendants(active.children, failed)
            deadline = asyncio.get_running_loop().time() + COMPLETE_WAIT_S
            while not active.all_ended(skipped):
                active.changed.clear()
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    self._close_stragglers(active, skipped)
                    break
                try:
                    await asyncio.wait_for(active.changed.wait(), remaining)
                except TimeoutError:
                    pass
        update: dict[str, Any] = {"status": status, "end_time": repo.now(), "error": error}
        if fields.get("result_file"):
            self._batch.files[fields["result_blob"]] = (
                int(fields["result_size"]),
                fields["result_file"],
            )
            if active is not None:
                active.memo = None
        elif (data := fields.get("result_data")) is not None:
            self._batch.blobs[fields["result_blob"]] = data
            if (
                active is not None
                and active.memo is not None
                and not active.memo.keep(fields["result_blob"], data)
            ):
                active.memo = None
        for key in ("result_blob", "result_repr", "result_json"):
            if key in fields:
                update[key] = fields[key]
        await self._end(dispatch_id, update)

    def _close_stragglers(self, active: Active, skipped: set[int]) -> None:
        for n in active.close_stragglers(skipped, repo.now()):
            self._batch.nodes[(active.dispatch_id, n)] = dict(active.nodes[n])

    async def abort(
        self, dispatch_id: str, status: Status, error: str, pending_too: bool = False
    ) -> None:
        """End a dispatch that cannot finish normally (system failure, cancel, restart):
        running electrons end with it; with ``pending_too``, so do those never started."""
        status = Status(status)
        active = await self._await_registered(dispatch_id)
        if active is None:
            return
        self._end_nodes(active, [n for n in active.nodes], status, error, pending_too)
        await self._end(dispatch_id, {"status": status, "end_time": repo.now(), "error": error})

    def _end_nodes(
        self,
        active: Active,
        node_ids: Sequence[int],
        status: Status,
        error: str,
        pending_too: bool,
    ) -> list[int]:
        ended = active.end_nodes(node_ids, status, error, pending_too, repo.now())
        for n in ended:
            self._batch.nodes[(active.dispatch_id, n)] = dict(active.nodes[n])
            self._publish_node(active, n, status)
        return ended

    async def end_nodes(
        self, dispatch_id: str, node_ids: list[int], status: Status, error: str
    ) -> list[int]:
        """End the given electrons (not yet ended) with ``status``, e.g. CANCELLED;
        returns those changed."""
        status = Status(status)
        active = await self._load_active(dispatch_id)
        if active is None:
            return []
        ended = self._end_nodes(active, node_ids, status, error, pending_too=True)
        await self._commit()
        return ended

    async def delete(self, dispatch_ids: list[str]) -> dict[str, list[str]]:
        """Delete ended dispatches, their sublattices' dispatches and the stored objects
        nothing else uses. Running dispatches are refused (cancel them first)."""

        doomed, missing, running = await self._read(reads.deletion_plan, dispatch_ids)
        if running:
            return {"deleted": [], "missing": missing, "running": running}

        def remove() -> None:
            with transaction(self._con) as con:
                repo.delete_dispatches(con, doomed)
                files = self._blobs.delete_unreferenced(con, repo.REFERENCED_BLOBS)
            self._blobs.remove_files(files)

        await self._commit()  # nothing queued for these dispatches may land after
        await asyncio.get_running_loop().run_in_executor(self._writer, remove)
        for d in doomed:
            self._recent.pop(d, None)
            self._publish({"type": "deleted", "dispatch_id": d})
        return {"deleted": doomed, "missing": missing, "running": []}

    async def stats(self) -> dict[str, Any]:
        """Write statistics: group commits, electron updates, mean and max commit time."""
        s = self._commits.stats
        return {
            "commits": s.commits,
            "node_updates": self._node_updates,
            "registrations": self._registrations,
            "record_calls": self._record_calls,
            "mean_commit_ms": 1000 * s.seconds / s.commits if s.commits else 0.0,
            "max_commit_ms": 1000 * s.max_seconds,
            "active_dispatches": len(self._active),
        }

    async def metrics(self) -> bytes:
        """Electron, commit and SQL metrics in Prometheus' text format (``runtime.metrics``)."""
        b = self._batch
        depth = len(b.nodes) + len(b.registrations) + len(b.dispatch_updates) + len(b.attempts)
        return self._metrics.render(depth, len(self._active))

    def _park(self, event: ElectronEvent) -> None:
        """Keep an event whose dispatch is not registered yet (for up to ten minutes)."""
        now = asyncio.get_running_loop().time()
        for stale in [d for d, (t, _) in self._parked.items() if now - t > 600]:
            del self._parked[stale]
        _since, events = self._parked.setdefault(event["dispatch_id"], (now, []))
        if len(events) < 100_000:
            events.append(event)

    async def _end(self, dispatch_id: str, update: dict[str, Any]) -> None:
        self._batch.dispatch_updates.append((dispatch_id, update))
        await self._commit()
        active = self._active.pop(dispatch_id, None)
        if active is not None and active.memo is not None:
            self._recent[dispatch_id] = active.memo.record(update, active.nodes)
            while len(self._recent) > RECENT_ENDS:
                self._recent.popitem(last=False)
        self._registered.pop(dispatch_id, None)
        self._parked.pop(dispatch_id, None)
        ended = self._finished.pop(dispatch_id, None)
        if ended is not None:  # wake the callers of ``wait``
            ended.status = update["status"]
            ended.set()
        self._publish({"type": "dispatch", "dispatch_id": dispatch_id, "status": update["status"]})

    # -- reads --------------------------------------------------------------------------

    async def status(self, dispatch_id: str) -> Status | None:
        """The dispatch's status, or None if unknown."""
        row = await self._read(repo.get_dispatch, dispatch_id)
        return None if row is None else row["status"]

    async def wait(self, dispatch_id: str, timeout: float | None = None) -> Status | None:
        """Wait until the dispatch has ended (no polling); return its status.

        A dispatch being registered right now counts as running: a client may ask for its
        end in the same breath as it registers it."""
        if dispatch_id in self._active:
            event = self._finished.setdefault(dispatch_id, Ended())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return await self.status(dispatch_id)
            return event.status
        status = await self.status(dispatch_id)
        if status is None or Status(status).is_terminal:
            return status
        event = self._finished.setdefault(dispatch_id, Ended())
        # the dispatch may have ended between the read and the event's creation
        status = await self.status(dispatch_id)
        if status is None or Status(status).is_terminal:
            return status
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return await self.status(dispatch_id)
        return event.status

    async def get_result(
        self,
        dispatch_id: str,
        wait: bool = False,
        timeout: float | None = None,
        outputs: bool = True,
        edges: bool = False,
    ) -> ResultRecord | None:
        """Everything about a dispatch: its row, electrons, edges and the blobs needed to
        rebuild its result, inputs and (if ``outputs``) every electron output."""
        if wait:
            await self.wait(dispatch_id, timeout)
        recent = self._recent.get(dispatch_id)
        if recent is not None and not edges:  # just ended: the same rows, from memory
            if outputs:
                return recent
            outputs_only = {n["output_blob"] for n in recent["nodes"]} - {
                recent["dispatch"][k] for k in ("result_blob", "inputs_blob", "lattice_blob")
            }
            return {
                **recent,
                "blobs": {k: v for k, v in recent["blobs"].items() if k not in outputs_only},
            }

        return await self._read(reads.result_record, self._blobs, dispatch_id, outputs, edges)

    async def dispatch_summary(self, dispatch_id: str) -> DispatchRow | None:
        """One dispatch with its electron counts and child dispatches (``storage.reads``)."""
        return await self._read(reads.dispatch_summary, dispatch_id)

    async def graph_view(self, dispatch_id: str) -> GraphView | None:
        """A dispatch's graph for drawing (``storage.reads``)."""
        return await self._read(reads.graph_view, dispatch_id)

    async def electron_detail(self, dispatch_id: str, node_id: int) -> ElectronDetail | None:
        """One node with its inputs and attempts (``storage.reads``)."""
        return await self._read(reads.electron_detail, self._blobs, dispatch_id, node_id)

    async def timeline(self, dispatch_id: str) -> TimelineView | None:
        """When and where each node of a dispatch ran (``storage.reads``)."""
        return await self._read(reads.timeline, dispatch_id)

    async def comparison_side(self, dispatch_id: str) -> dict[str, Any] | None:
        """A dispatch as comparing it with another reads it (``storage.reads``)."""
        return await self._read(reads.comparison_side, dispatch_id)

    async def edges(self, dispatch_id: str) -> list[EdgeRow]:
        """The transport graph's edges of a dispatch."""
        return await self._read(repo.get_edges, dispatch_id)

    async def get_blobs(self, keys: list[str]) -> dict[str, bytes]:
        """Stored bytes by key."""
        return await self._read(self._blobs.get_many, keys)

    async def list_dispatches(self, **filters: Any) -> dict[str, Any]:
        """A page of dispatches (see ``repository.list_dispatches``) with electron counts."""

        def load(cur: Any) -> dict[str, Any]:
            rows, total = repo.list_dispatches(cur, **filters)
            counts = repo.node_status_counts(cur, [r["dispatch_id"] for r in rows])
            for r in rows:
                r["electron_counts"] = counts.get(r["dispatch_id"], {})
            return {"items": rows, "total": total}

        return await self._read(load)

    async def counts(self) -> dict[str, int]:
        """Number of dispatches by status."""
        return await self._read(repo.count_by_status)

    async def unfinished(self) -> list[DispatchRow]:
        """Dispatches not yet ended (for recovery)."""
        return await self._read(repo.unfinished_dispatches)

    async def load_manifest(self, dispatch_id: str) -> DispatchManifest | None:
        """The stored manifest of a dispatch with all its blobs (for resume/redispatch)."""

        return await self._read(reads.stored_manifest, self._blobs, dispatch_id)

    async def node_state(self, dispatch_id: str, node_id: int) -> dict[str, Any] | None:
        """The current state of one electron (status, attempt, worker...), or None."""
        active = await self._load_active(dispatch_id)
        if active is not None:
            state = active.nodes.get(node_id)
            return None if state is None else dict(state)
        rows = await self._read(repo.get_nodes, dispatch_id)
        return next((r for r in rows if r["node_id"] == node_id), None)

    async def node_outputs(self, dispatch_id: str) -> dict[int, NodeRow]:
        """Stored state of every electron of a dispatch, by node id."""
        rows = await self._read(repo.get_nodes, dispatch_id)
        return {r["node_id"]: r for r in rows}

    async def changes(self, since: int = 0, timeout: float = 15.0) -> dict[str, Any]:
        """Status changes after sequence number ``since``, waiting up to ``timeout`` for
        the first one (the HTTP server's live stream long-polls this)."""
        return await self._feed.since(since, timeout)

    async def close(self) -> None:
        """Commit what is queued and close the database file."""
        await self._commit()
        await asyncio.get_running_loop().run_in_executor(self._writer, self._con.close)

    # -- SQL over results (the views and the sandbox policy: storage/sql/) ---------------

    def _sql_service(self) -> Any:
        """The SQL sandbox service, started on first use (queries never run on ``_con``:
        it only supplies read cursors to copy the views from)."""
        service = getattr(self, "_sql_sandbox", None)
        if service is None:
            from ..storage.sql import SqlService

            service = self._sql_sandbox = SqlService(
                lambda: self._con.cursor(), root=self.home / "sql-sandbox"
            )
        return service

    async def sql(
        self,
        query: str,
        params: list[Any] | dict[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one read-only query over the result views in the SQL sandbox.

        Answers ``columns``, ``types``, ``arrow`` (Arrow IPC bytes), ``row_count``,
        ``truncated``, ``max_rows`` and ``elapsed_s``; a refused or failed query answers
        ``{"error": {"kind": "rejected" | "failed", "message": ...}}``."""
        from ..storage.sql import answer

        service = self._sql_service()
        loop = asyncio.get_running_loop()
        started = loop.time()
        result: dict[str, Any] = await loop.run_in_executor(
            service.pool, answer, service, query, params, max_rows, timeout
        )
        self._metrics.sql_query(result, loop.time() - started)
        return result

    async def sql_export(self, view: str) -> bytes:
        """Every row of one result view, as the bytes of a Parquet file."""
        service = self._sql_service()
        return await asyncio.get_running_loop().run_in_executor(service.pool, service.export, view)
