"""The composite reads the result manager serves (each takes a cursor first; the actor
runs them on its reader threads): everything ``get_result`` answers, a stored manifest
with its blobs, what a deletion would remove, and the REST API's views.

Their answers are the records of ``core.messages``: a ``ResultRecord``, a dispatch row
with its electron counts and children, a ``GraphView``, an ``ElectronDetail``, a ``TimelineView``.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from typing import Any, cast

from .._status import Status
from ..core.graph import NodeKind
from ..core.manifest import DispatchManifest
from ..core.messages import (
    AttemptRow,
    DispatchRow,
    ElectronDetail,
    ExecutorSettings,
    GraphView,
    ResultRecord,
    TimelineView,
)
from ..core.redact import redact
from . import repository as repo
from .blobs import BlobStore
from .rows import manifest_blob_keys

#: blobs larger than this are not read into a ``ResultRecord``: the record names their
#: files, which the reader opens itself (or fetches on use, from another machine), so a
#: large result never passes whole through the result manager
SENT_BLOB_BYTES = 8 * 1024 * 1024


def result_record(
    cur: Any, blobs: BlobStore, dispatch_id: str, outputs: bool, edges: bool
) -> ResultRecord | None:
    """A dispatch's row, electrons (with their attempts), edges if asked, children, and
    the blobs of its result, inputs, lattice and (if ``outputs``) electron outputs."""
    row = repo.get_dispatch(cur, dispatch_id)
    if row is None:
        return None
    nodes = repo.get_nodes(cur, dispatch_id)
    tries: dict[int, list[AttemptRow]] = {}
    for a in repo.get_attempts(cur, dispatch_id):
        tries.setdefault(a["node_id"], []).append(a)
    for n in nodes:
        n["attempts"] = tries.get(n["node_id"], [])
    stored = cast(dict[str, Any], row)
    keys = [stored[k] for k in ("result_blob", "inputs_blob", "lattice_blob") if stored[k]]
    if outputs:
        keys += [n["output_blob"] for n in nodes if n["output_blob"]]
    has_children = any(n["sub_dispatch_id"] for n in nodes)
    small, large = blobs.get_small(cur, keys, SENT_BLOB_BYTES)
    return {
        "dispatch": row,
        "nodes": nodes,
        "edges": repo.get_edges(cur, dispatch_id) if edges else None,
        "children": repo.children(cur, dispatch_id) if has_children else [],
        "blobs": small,
        "blob_files": large,
    }


def stored_manifest(cur: Any, blobs: BlobStore, dispatch_id: str) -> DispatchManifest | None:
    """The manifest a dispatch was registered with, with every blob it needs to run
    (its skeleton is covalent-ray's own dataclasses: no user object is unpickled)."""
    row = repo.get_dispatch(cur, dispatch_id)
    if row is None or not row["manifest_blob"]:
        return None
    data = blobs.get(cur, row["manifest_blob"])
    if data is None:
        return None
    manifest: DispatchManifest = pickle.loads(data)
    manifest.blobs = blobs.get_many(cur, manifest_blob_keys(manifest))
    return manifest


def deletion_plan(cur: Any, dispatch_ids: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """What deleting ``dispatch_ids`` would remove (they and their sublattices'
    dispatches), which of them are unknown, and which of those removed still run."""
    known = {d: repo.get_dispatch(cur, d) for d in dispatch_ids}
    missing = [d for d, row in known.items() if row is None]
    doomed = repo.family(cur, [d for d, row in known.items() if row is not None])
    running = []
    for d in doomed:
        row = repo.get_dispatch(cur, d)
        if row is not None and not Status(row["status"]).is_terminal:
            running.append(d)
    return doomed, missing, running


def dispatch_summary(cur: Any, dispatch_id: str) -> DispatchRow | None:
    """One dispatch row with its electron counts by status and its child dispatches."""
    row = repo.get_dispatch(cur, dispatch_id)
    if row is None:
        return None
    row["electron_counts"] = repo.node_status_counts(cur, [dispatch_id])[dispatch_id]
    row["children"] = repo.children(cur, dispatch_id)
    return row


def graph_view(cur: Any, dispatch_id: str) -> GraphView | None:
    """A dispatch's graph for drawing: each node's state without values or logs (a
    thousand-node graph stays a small answer), and its edges."""
    if repo.get_dispatch(cur, dispatch_id) is None:
        return None
    nodes = repo._rows(
        cur.execute(
            "SELECT node_id, name, kind, status, executor, start_time, end_time, "
            "sub_dispatch_id, attempt FROM electrons WHERE dispatch_id = ? ORDER BY node_id",
            [dispatch_id],
        )
    )
    return {"nodes": nodes, "edges": repo.get_edges(cur, dispatch_id)}


def electron_detail(
    cur: Any, blobs: BlobStore, dispatch_id: str, node_id: int
) -> ElectronDetail | None:
    """One node's row and its inputs (each parent's readable output with the parameter it
    binds), its recorded attempts, its source and its executor's settings (from the
    dispatch's stored skeleton); None for an unknown dispatch, ``node`` None for an
    unknown node."""
    row = repo.get_dispatch(cur, dispatch_id)
    if row is None:
        return None
    nodes = repo.get_nodes(cur, dispatch_id, [node_id])
    if not nodes:
        return {"node": None, "inputs": [], "attempts": [], "source": None, "executor": None}
    inputs = repo._rows(
        cur.execute(
            """SELECT e.kind, e.arg_index, e.param_name, e.parent_node_id,
                  p.name AS parent_name, p.kind AS parent_kind, p.output_repr, p.output_json
           FROM edges e JOIN electrons p
             ON p.dispatch_id = e.dispatch_id AND p.node_id = e.parent_node_id
           WHERE e.dispatch_id = ? AND e.child_node_id = ?
           ORDER BY e.kind, e.arg_index NULLS LAST, e.param_name""",
            [dispatch_id, node_id],
        )
    )
    source, executor = _node_spec(cur, blobs, row.get("manifest_blob"), node_id)
    return {
        "node": nodes[0],
        "inputs": inputs,
        "attempts": repo.get_attempts(cur, dispatch_id, node_id),
        "source": source,
        "executor": executor,
    }


def _node_spec(
    cur: Any, blobs: BlobStore, manifest_blob: str | None, node_id: int
) -> tuple[str | None, ExecutorSettings | None]:
    """A node's source and its executor's type and settings (secrets redacted), from the
    dispatch's skeleton (covalent-ray's own dataclasses: no user object is unpickled)."""
    data = blobs.get(cur, manifest_blob) if manifest_blob else None
    if data is None:
        return None, None
    manifest: DispatchManifest = pickle.loads(data)
    if not 0 <= node_id < len(manifest.graph.nodes):
        return None, None
    node = manifest.graph.nodes[node_id]
    spec = node.executor
    if spec is None and node.kind in (NodeKind.ELECTRON, NodeKind.SUBLATTICE):
        spec = manifest.executor  # the lattice's default, or None: Dask-on-Ray
    if node.kind not in (NodeKind.ELECTRON, NodeKind.SUBLATTICE):
        return node.source, None
    if spec is None:
        return node.source, {"name": "dask", "type": "Dask-on-Ray (the default)", "settings": {}}
    try:
        identity = json.loads(spec.identity) if spec.identity else {}
    except ValueError:
        identity = {}
    settings, _ = redact(identity.get("config") or {})
    return node.source, {
        "name": spec.short_name,
        "type": str(identity.get("type") or spec.short_name),
        "settings": settings if isinstance(settings, dict) else {},
    }


def timeline(cur: Any, dispatch_id: str) -> TimelineView | None:
    """What a Gantt chart of a dispatch needs: every node but the parameters, with its
    times, Ray node and worker, and its finished attempts (each a segment of its own)."""
    dispatch = repo.get_dispatch(cur, dispatch_id)
    if dispatch is None:
        return None
    nodes = repo._rows(
        cur.execute(
            "SELECT node_id, name, kind, status, executor, start_time, end_time, "
            "ray_node_id, worker_pid, attempt, sub_dispatch_id FROM electrons "
            "WHERE dispatch_id = ? AND kind <> 'parameter' ORDER BY node_id",
            [dispatch_id],
        )
    )
    tries: dict[int, list[AttemptRow]] = {}
    for a in repo.get_attempts(cur, dispatch_id):
        tries.setdefault(a["node_id"], []).append(a)
    for n in nodes:
        n["attempts"] = tries.get(n["node_id"], [])
    return {
        "status": dispatch["status"],
        "start_time": dispatch["start_time"],
        "end_time": dispatch["end_time"],
        "nodes": nodes,
    }


def comparison_side(cur: Any, dispatch_id: str) -> dict[str, Any] | None:
    """What comparing a dispatch with another needs (``core.compare.Side``): its row and
    every node's status, times, readable output, output blob key and error (no logs, no
    value bytes); None for an unknown dispatch."""
    dispatch = repo.get_dispatch(cur, dispatch_id)
    if dispatch is None:
        return None
    nodes = repo._rows(
        cur.execute(
            "SELECT node_id, name, kind, status, start_time, end_time, output_blob, "
            "output_repr, output_json, error FROM electrons WHERE dispatch_id = ? "
            "ORDER BY node_id",
            [dispatch_id],
        )
    )
    return {"dispatch": dispatch, "nodes": nodes}
