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
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._home import db_path, objects_dir
from .._status import Status, advances
from ..core.graph import NodeKind, descendants
from ..core.manifest import DispatchManifest
from ..storage import repository as repo
from ..storage.blobs import BlobStore

log = logging.getLogger(__name__)

COMPLETE_WAIT_S = 30.0  # how long a dispatch's end waits for straggling electron events
COMMIT_INTERVAL_S = 0.01  # under load, at most one group commit per interval
SLOW_COMMIT_S = 0.025  # commits slower than this stretch the interval (see _flush_loop)


def _ts(epoch: float | None) -> datetime | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


MEMO_BYTES = 4_000_000  # a dispatch whose stored values exceed this is read back instead
RECENT_ENDS = 64  # ended dispatches whose get_result is answered from memory


@dataclass
class _Memo:
    """The rows and blobs of a dispatch, as ``get_result`` reads them, built in memory."""

    row: dict[str, Any]
    static: dict[int, dict[str, Any]]  # node_id -> name, kind, executor...
    blobs: dict[str, bytes]
    attempts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    size: int = 0

    def keep(self, key: str | None, data: bytes | None) -> bool:
        """Hold a blob; False once the dispatch holds too much to be kept."""
        if key is None or data is None:
            return True
        self.size += len(data)
        self.blobs[key] = data
        return self.size <= MEMO_BYTES

    def record(self, update: dict[str, Any], nodes: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """What ``get_result`` answers for the ended dispatch."""
        row = {c: None for c in repo.DISPATCH_COLUMNS}
        row.update(self.row)
        row.update(update)
        node_rows = []
        for n in sorted(nodes):
            node = {c: None for c in repo.NODE_COLUMNS}
            node.update(self.static[n])
            node.update(nodes[n])
            node["attempts"] = list(self.attempts.get(n, []))
            node_rows.append(node)
        return {
            "dispatch": row,
            "nodes": node_rows,
            "edges": None,
            "children": [],
            "blobs": dict(self.blobs),
        }


@dataclass
class _Active:
    """In-memory view of an unfinished dispatch."""

    dispatch_id: str
    nodes: dict[int, dict[str, Any]]  # node_id -> state columns
    kinds: dict[int, str]
    children: dict[int, list[int]]
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # What ``get_result`` returns, kept while small so that a dispatch's end can be
    # answered from memory (no reads) right after it is committed; None: not kept.
    memo: _Memo | None = None

    def all_ended(self, skipped: set[int]) -> bool:
        return all(
            Status(s["status"]).is_terminal
            for n, s in self.nodes.items()
            if n not in skipped and self.kinds[n] != NodeKind.PARAMETER.value
        )


class _Ended(asyncio.Event):
    """Set once a dispatch's end is committed; carries its final status."""

    status: str | None = None


@dataclass
class _WriteStats:
    """How the group commits went (reported by ``stats``)."""

    commits: int = 0
    node_updates: int = 0
    registrations: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0

    def add(self, seconds: float, nodes: int, registrations: int) -> None:
        self.commits += 1
        self.node_updates += nodes
        self.registrations += registrations
        self.seconds += seconds
        self.max_seconds = max(self.max_seconds, seconds)


@dataclass
class _Batch:
    registrations: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=list
    )
    blobs: dict[str, bytes] = field(default_factory=dict)
    nodes: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    dispatch_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.registrations
            or self.nodes
            or self.dispatch_updates
            or self.attempts
            or self.waiters
        )


class ResultManager:
    """Owner of the results database (run as a detached, restartable Ray actor)."""

    def __init__(self, home: str) -> None:
        self.home = Path(home)
        self._con = repo.connect(db_path(self.home))
        self._blobs = BlobStore(objects_dir(self.home))
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="covalent-ray-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="covalent-ray-reader")
        self._batch = _Batch()
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._active: dict[str, _Active] = {}
        self._finished: dict[str, _Ended] = {}  # set when the dispatch has ended
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()  # see _Memo
        self._stats = _WriteStats()
        # events that outran their dispatch's registration: dispatch -> (since, events)
        self._parked: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._registered: dict[str, asyncio.Event] = {}
        self._changes: deque[tuple[int, dict[str, Any]]] = deque(maxlen=50_000)
        self._seq = 0
        self._news = asyncio.Event()

    # -- plumbing ---------------------------------------------------------------------

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._wake = asyncio.Event()
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        last_start = last_took = 0.0
        while True:
            await self._wake.wait()
            # Each commit costs a few ms whatever its size: under load, let writes gather
            # for COMMIT_INTERVAL_S; when commits turn slow (the machine is busy), for twice
            # as long as the last one took, so that writing takes at most half of this
            # process's time. When idle, write now.
            gather = 2 * last_took if last_took > SLOW_COMMIT_S else COMMIT_INTERVAL_S
            pause = last_start + gather - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            self._wake.clear()
            batch, self._batch = self._batch, _Batch()
            if not batch:
                continue
            started = last_start = loop.time()
            try:
                await loop.run_in_executor(self._writer, self._write, batch)
                last_took = loop.time() - started
                self._stats.add(last_took, len(batch.nodes), len(batch.registrations))
            except Exception as exc:  # keep serving; callers waiting on this batch learn why
                log.exception("writing a batch of results failed")
                for w in batch.waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            for w in batch.waiters:
                if not w.done():
                    w.set_result(None)

    def _write(self, batch: _Batch) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            self._blobs.put_many(con, batch.blobs)
            for dispatch, nodes, edges in batch.registrations:
                repo.insert_dispatch(con, dispatch, nodes, edges)
            if batch.nodes:
                rows = [
                    {"dispatch_id": d, "node_id": n, **state}
                    for (d, n), state in batch.nodes.items()
                ]
                repo.update_nodes(con, rows)
            repo.insert_attempts(con, batch.attempts)
            for dispatch_id, fields in batch.dispatch_updates:
                repo.update_dispatch(con, dispatch_id, fields)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    async def _commit(self) -> None:
        """Wait until everything queued so far is committed."""
        self._ensure_flusher()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.waiters.append(fut)
        assert self._wake is not None
        self._wake.set()
        await fut

    async def _read(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            cursor = self._con.cursor()
            try:
                return fn(cursor, *args, **kwargs)
            finally:
                cursor.close()

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def _publish(self, change: dict[str, Any]) -> None:
        self._seq += 1
        self._changes.append((self._seq, change))
        # wake every current long-poll, then arm the event for the next ones
        self._news.set()
        self._news = asyncio.Event()

    # -- writes -------------------------------------------------------------------------

    async def ping(self) -> str:
        """Liveness check."""
        return "ok"

    async def pid(self) -> int:
        """The actor's process id (diagnostics, crash tests)."""
        return os.getpid()

    async def register(
        self, manifest: DispatchManifest, reused: dict[int, dict[str, Any]] | None = None
    ) -> bool:
        """Store a new dispatch with its graph and blobs; returns once committed.

        ``reused`` gives electrons whose output is taken from an earlier dispatch (their
        ``output_blob``/``output_repr``/``output_json`` and ``reused_from``): they are
        stored COMPLETED, with equal start and end times. Registering an ID twice is
        harmless (the second call changes nothing)."""
        if manifest.dispatch_id in self._active:
            return False
        now = repo.now()
        g = manifest.graph
        skeleton = DispatchManifest(**{**manifest.__dict__, "blobs": {}})
        skeleton_data = pickle.dumps(skeleton)
        from .._serialize import blob_key

        skeleton_key = blob_key(skeleton_data)
        dispatch = {
            "dispatch_id": manifest.dispatch_id,
            "root_dispatch_id": manifest.root_id,
            "parent_dispatch_id": manifest.parent_dispatch_id,
            "parent_node_id": manifest.parent_node_id,
            "name": manifest.name,
            "status": Status.RUNNING.value,
            "created_at": now,
            "start_time": now,
            "num_nodes": len(g.nodes),
            "inputs_blob": manifest.inputs,
            "inputs_repr": manifest.inputs_repr,
            "inputs_json": manifest.inputs_json,
            "lattice_blob": manifest.lattice,
            "lattice_source": manifest.lattice_source,
            "lattice_doc": manifest.lattice_doc,
            "manifest_blob": skeleton_key,
            "executor": manifest.executor.short_name if manifest.executor else "dask",
            "workflow_executor": (
                manifest.workflow_executor.short_name if manifest.workflow_executor else "dask"
            ),
            "blob_keys": sorted({*manifest.blobs, skeleton_key}),
        }
        nodes, states, kinds = [], {}, {}
        for n in g.nodes:
            state = {c: None for c in repo.NODE_STATE_COLUMNS}
            state.update(status=Status.NEW_OBJECT.value, attempt=0)
            if n.kind is NodeKind.PARAMETER:
                state.update(
                    status=Status.COMPLETED.value,
                    start_time=now,
                    end_time=now,
                    output_blob=n.value,
                    output_repr=n.value_repr,
                    output_json=n.value_json,
                )
            elif reused and n.id in reused:
                state.update(
                    status=Status.COMPLETED.value, start_time=now, end_time=now, **reused[n.id]
                )
            executor = None
            if n.kind in (NodeKind.ELECTRON, NodeKind.SUBLATTICE):
                executor = n.executor.short_name if n.executor else dispatch["executor"]
            nodes.append(
                {
                    "dispatch_id": manifest.dispatch_id,
                    "node_id": n.id,
                    "name": n.name,
                    "kind": n.kind.value,
                    "executor": executor,
                    **state,
                }
            )
            states[n.id] = state
            kinds[n.id] = n.kind.value
        edges = [
            {
                "dispatch_id": manifest.dispatch_id,
                "parent_node_id": e.parent,
                "child_node_id": e.child,
                "kind": e.kind.value,
                "arg_index": e.index,
                "param_name": e.name,
            }
            for e in g.edges
        ]
        children: dict[int, list[int]] = g.children()
        memo = _Memo(
            dict(dispatch),
            {
                n["node_id"]: {
                    k: n[k] for k in ("dispatch_id", "node_id", "name", "kind", "executor")
                }
                for n in nodes
            },
            {},
        )
        wanted = [
            manifest.inputs,
            manifest.lattice,
            *(n.value for n in g.nodes if n.kind is NodeKind.PARAMETER),
            *(r["output_blob"] for r in (reused or {}).values()),
        ]
        kept = all(k in manifest.blobs and memo.keep(k, manifest.blobs[k]) for k in wanted if k)
        self._active[manifest.dispatch_id] = _Active(
            manifest.dispatch_id, states, kinds, children, memo=memo if kept else None
        )
        self._batch.registrations.append((dispatch, nodes, edges))
        self._batch.blobs.update(manifest.blobs)
        self._batch.blobs[skeleton_key] = skeleton_data
        parked = self._parked.pop(manifest.dispatch_id, None)
        if parked:
            await self.record(parked[1])
        await self._commit()
        self._registered.setdefault(manifest.dispatch_id, asyncio.Event()).set()
        self._publish(
            {
                "type": "dispatch",
                "dispatch_id": manifest.dispatch_id,
                "status": Status.RUNNING.value,
                "parent": manifest.parent_dispatch_id,
            }
        )
        return True

    async def _await_registered(self, dispatch_id: str, timeout: float = 60.0) -> _Active | None:
        """The active view of a dispatch, waiting for a registration still in flight."""
        active, exists = await self._lookup(dispatch_id)
        if active is not None or exists:
            return active
        event = self._registered.setdefault(dispatch_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return None
        return await self._load_active(dispatch_id)

    async def _load_active(self, dispatch_id: str) -> _Active | None:
        """The in-memory view of an unfinished dispatch (rebuilt from the database)."""
        return (await self._lookup(dispatch_id))[0]

    async def _lookup(self, dispatch_id: str) -> tuple[_Active | None, bool]:
        """The active view of a dispatch, and whether the database knows the dispatch
        (a known dispatch without an active view has ended)."""
        if dispatch_id in self._active:
            return self._active[dispatch_id], True

        def load(cur: Any) -> tuple[Any, Any, Any]:
            return (
                repo.get_dispatch(cur, dispatch_id),
                repo.get_nodes(cur, dispatch_id),
                repo.get_edges(cur, dispatch_id),
            )

        row, node_rows, edge_rows = await self._read(load)
        if row is None or Status(row["status"]).is_terminal:
            return None, row is not None
        if dispatch_id in self._active:  # loaded concurrently
            return self._active[dispatch_id], True
        states = {r["node_id"]: {c: r[c] for c in repo.NODE_STATE_COLUMNS} for r in node_rows}
        kinds = {r["node_id"]: r["kind"] for r in node_rows}
        children: dict[int, list[int]] = {r["node_id"]: [] for r in node_rows}
        for e in edge_rows:
            if e["child_node_id"] not in children[e["parent_node_id"]]:
                children[e["parent_node_id"]].append(e["child_node_id"])
        active = _Active(dispatch_id, states, kinds, children)
        self._active[dispatch_id] = active
        return active, True

    async def record(self, events: Sequence[dict[str, Any]]) -> None:
        """Merge electron events (fire-and-forget for the sender)."""
        for event in events:
            active = self._active.get(event["dispatch_id"])
            if active is None:
                active, exists = await self._lookup(event["dispatch_id"])
                if active is None:
                    if not exists:  # its registration is still on the way: apply it then
                        self._park(event)
                    continue
            node_id = int(event["node_id"])
            state = active.nodes.get(node_id)
            if state is None or not advances(state["status"], event["status"]):
                continue
            for column in repo.NODE_STATE_COLUMNS:
                if column in event and event[column] is not None:
                    value = event[column]
                    if column in ("start_time", "end_time"):
                        value = _ts(value)
                    state[column] = value
            if event.get("output_data") is not None:
                self._batch.blobs[event["output_blob"]] = event["output_data"]
                if active.memo is not None and not active.memo.keep(
                    event["output_blob"], event["output_data"]
                ):
                    active.memo = None
            if event.get("sub_dispatch_id"):
                active.memo = None  # its children are read back with it
            for tried in event.get("attempts") or ():
                attempt = {
                    "dispatch_id": active.dispatch_id,
                    "node_id": node_id,
                    **tried,
                    "start_time": _ts(tried.get("start_time")),
                    "end_time": _ts(tried.get("end_time")),
                }
                self._batch.attempts.append(attempt)
                if active.memo is not None:
                    active.memo.attempts.setdefault(node_id, []).append(
                        {c: attempt.get(c) for c in repo.ATTEMPT_COLUMNS}
                    )
            self._batch.nodes[(active.dispatch_id, node_id)] = dict(state)
            active.changed.set()
            self._publish(
                {
                    "type": "electron",
                    "dispatch_id": active.dispatch_id,
                    "node_id": node_id,
                    "status": state["status"],
                }
            )
        # return only once committed: if this process dies first, Ray retries the call
        # on the restarted manager, so no event is lost
        await self._commit()

    async def complete(
        self,
        dispatch_id: str,
        status: str,
        error: str | None,
        failed: list[int],
        fields: dict[str, Any],
    ) -> None:
        """Record a dispatch's end (sent by its final task); returns once committed."""
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
        if fields.get("result_data") is not None:
            self._batch.blobs[fields["result_blob"]] = fields["result_data"]
            if (
                active is not None
                and active.memo is not None
                and not active.memo.keep(fields["result_blob"], fields["result_data"])
            ):
                active.memo = None
        for key in ("result_blob", "result_repr", "result_json"):
            if key in fields:
                update[key] = fields[key]
        await self._end(dispatch_id, update)

    def _close_stragglers(self, active: _Active, skipped: set[int]) -> None:
        """Electrons that ran but whose end event never arrived (their worker died after
        finishing): the final task proves they ended, so record what is known."""
        for n, state in active.nodes.items():
            if n in skipped or active.kinds[n] == NodeKind.PARAMETER.value:
                continue
            if not Status(state["status"]).is_terminal:
                state["status"] = Status.COMPLETED.value
                state["end_time"] = state["end_time"] or repo.now()
                state["error"] = "the electron finished but its record was lost"
                self._batch.nodes[(active.dispatch_id, n)] = dict(state)

    async def abort(
        self, dispatch_id: str, status: str, error: str, pending_too: bool = False
    ) -> None:
        """End a dispatch that cannot finish normally (system failure, cancel, restart):
        running electrons end with it; with ``pending_too``, so do those never started."""
        active = await self._await_registered(dispatch_id)
        if active is None:
            return
        self._end_nodes(active, [n for n in active.nodes], status, error, pending_too)
        await self._end(dispatch_id, {"status": status, "end_time": repo.now(), "error": error})

    def _end_nodes(
        self, active: _Active, node_ids: Sequence[int], status: str, error: str, pending_too: bool
    ) -> list[int]:
        now = repo.now()
        ended = []
        for n in node_ids:
            state = active.nodes.get(n)
            if state is None or Status(state["status"]).is_terminal:
                continue
            if state["status"] == Status.NEW_OBJECT.value and not pending_too:
                continue
            state.update(status=status, end_time=now, error=state.get("error") or error)
            self._batch.nodes[(active.dispatch_id, n)] = dict(state)
            ended.append(n)
            self._publish(
                {
                    "type": "electron",
                    "dispatch_id": active.dispatch_id,
                    "node_id": n,
                    "status": status,
                }
            )
        active.changed.set()
        return ended

    async def end_nodes(
        self, dispatch_id: str, node_ids: list[int], status: str, error: str
    ) -> list[int]:
        """End the given electrons (not yet ended) with ``status``, e.g. CANCELLED;
        returns those changed."""
        active = await self._load_active(dispatch_id)
        if active is None:
            return []
        ended = self._end_nodes(active, node_ids, status, error, pending_too=True)
        await self._commit()
        return ended

    async def delete(self, dispatch_ids: list[str]) -> dict[str, list[str]]:
        """Delete ended dispatches, their sublattices' dispatches and the stored objects
        nothing else uses. Running dispatches are refused (cancel them first)."""

        def plan(cur: Any) -> tuple[list[str], list[str], list[str]]:
            known = {r: repo.get_dispatch(cur, r) for r in dispatch_ids}
            missing = [d for d, row in known.items() if row is None]
            doomed = repo.family(cur, [d for d, row in known.items() if row is not None])
            running = [
                d for d in doomed if not Status(repo.get_dispatch(cur, d)["status"]).is_terminal
            ]
            return doomed, missing, running

        doomed, missing, running = await self._read(plan)
        if running:
            return {"deleted": [], "missing": missing, "running": running}

        def remove() -> None:
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                repo.delete_dispatches(con, doomed)
                files = self._blobs.delete_unreferenced(con, repo.REFERENCED_BLOBS)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._blobs.remove_files(files)

        await self._commit()  # nothing queued for these dispatches may land after
        await asyncio.get_running_loop().run_in_executor(self._writer, remove)
        for d in doomed:
            self._recent.pop(d, None)
            self._publish({"type": "deleted", "dispatch_id": d})
        return {"deleted": doomed, "missing": missing, "running": []}

    async def stats(self) -> dict[str, Any]:
        """Write statistics: group commits, electron updates, mean and max commit time."""
        s = self._stats
        return {
            "commits": s.commits,
            "node_updates": s.node_updates,
            "registrations": s.registrations,
            "mean_commit_ms": 1000 * s.seconds / s.commits if s.commits else 0.0,
            "max_commit_ms": 1000 * s.max_seconds,
            "active_dispatches": len(self._active),
        }

    def _park(self, event: dict[str, Any]) -> None:
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

    async def status(self, dispatch_id: str) -> str | None:
        """The dispatch's status, or None if unknown."""
        row = await self._read(repo.get_dispatch, dispatch_id)
        return None if row is None else row["status"]

    async def wait(self, dispatch_id: str, timeout: float | None = None) -> str | None:
        """Wait until the dispatch has ended (no polling); return its status.

        A dispatch being registered right now counts as running: a client may ask for its
        end in the same breath as it registers it."""
        if dispatch_id in self._active:
            event = self._finished.setdefault(dispatch_id, _Ended())
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except TimeoutError:
                return await self.status(dispatch_id)
            return event.status
        status = await self.status(dispatch_id)
        if status is None or Status(status).is_terminal:
            return status
        event = self._finished.setdefault(dispatch_id, _Ended())
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
    ) -> dict[str, Any] | None:
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

        def load(cur: Any) -> dict[str, Any] | None:
            row = repo.get_dispatch(cur, dispatch_id)
            if row is None:
                return None
            nodes = repo.get_nodes(cur, dispatch_id)
            tries: dict[int, list[dict[str, Any]]] = {}
            for a in repo.get_attempts(cur, dispatch_id):
                tries.setdefault(a["node_id"], []).append(a)
            for n in nodes:
                n["attempts"] = tries.get(n["node_id"], [])
            keys = [row[k] for k in ("result_blob", "inputs_blob", "lattice_blob") if row[k]]
            if outputs:
                keys += [n["output_blob"] for n in nodes if n["output_blob"]]
            has_children = any(n["sub_dispatch_id"] for n in nodes)
            return {
                "dispatch": row,
                "nodes": nodes,
                "edges": repo.get_edges(cur, dispatch_id) if edges else None,
                "children": repo.children(cur, dispatch_id) if has_children else [],
                "blobs": self._blobs.get_many(cur, keys),
            }

        return await self._read(load)

    async def read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run the read query registered as ``name`` in ``storage.reads``."""
        from ..storage.reads import READS

        if name not in READS:
            raise KeyError(f"no read query named {name!r}; known: {sorted(READS)}")
        return await self._read(READS[name], *args, **kwargs)

    async def edges(self, dispatch_id: str) -> list[dict[str, Any]]:
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

    async def unfinished(self) -> list[dict[str, Any]]:
        """Dispatches not yet ended (for recovery)."""
        return await self._read(repo.unfinished_dispatches)

    async def load_manifest(self, dispatch_id: str) -> DispatchManifest | None:
        """The stored manifest of a dispatch with all its blobs (for resume/redispatch)."""

        def load(cur: Any) -> DispatchManifest | None:
            row = repo.get_dispatch(cur, dispatch_id)
            if row is None or not row["manifest_blob"]:
                return None
            data = self._blobs.get(cur, row["manifest_blob"])
            if data is None:
                return None
            manifest: DispatchManifest = pickle.loads(data)
            keys = {k for n in manifest.graph.nodes for k in (n.function, n.value) if k}
            keys |= {
                k
                for n in manifest.graph.nodes
                if n.executor and n.executor.instance_blob
                for k in [n.executor.instance_blob]
            }
            keys |= {
                k
                for n in manifest.graph.nodes
                if "hooks" in n.metadata
                for k in [n.metadata["hooks"]]
            }
            keys |= {k for k in (manifest.output_template, manifest.inputs, manifest.lattice) if k}
            manifest.blobs = self._blobs.get_many(cur, sorted(keys))
            return manifest

        return await self._read(load)

    async def node_outputs(self, dispatch_id: str) -> dict[int, dict[str, Any]]:
        """Stored state of every electron of a dispatch, by node id."""
        rows = await self._read(repo.get_nodes, dispatch_id)
        return {r["node_id"]: r for r in rows}

    async def changes(self, since: int = 0, timeout: float = 15.0) -> dict[str, Any]:
        """Status changes after sequence number ``since``, waiting up to ``timeout`` for
        the first one (the HTTP server's live stream long-polls this)."""
        if self._seq <= since:
            try:
                await asyncio.wait_for(self._news.wait(), timeout)
            except TimeoutError:
                pass
        items = [c for seq, c in self._changes if seq > since]
        oldest = self._changes[0][0] if self._changes else self._seq + 1
        return {"seq": self._seq, "changes": items, "gap": since + 1 < oldest and since > 0}

    async def flush(self) -> None:
        """Commit everything queued (used before shutdown)."""
        await self._commit()

    async def close(self) -> None:
        """Commit what is queued and close the database file."""
        await self._commit()
        await asyncio.get_running_loop().run_in_executor(self._writer, self._con.close)

    # -- SQL over results (the views and the sandbox policy: storage/sql.py) -------------

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
        return await asyncio.get_running_loop().run_in_executor(
            service.pool, answer, service, query, params, max_rows, timeout
        )

    async def sql_export(self, view: str) -> bytes:
        """Every row of one result view, as the bytes of a Parquet file."""
        service = self._sql_service()
        return await asyncio.get_running_loop().run_in_executor(service.pool, service.export, view)
