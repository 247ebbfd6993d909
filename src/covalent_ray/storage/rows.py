"""The translation of a dispatch's records into the rows the tables hold (pure: no
connection, no clock; the caller passes the time).

- ``registration_rows``: a manifest (plus the outputs reused from an earlier dispatch)
  becomes its dispatch row, one row per node, one per edge, and the pickled skeleton of
  the manifest (the graph without its blobs) that resume and redispatch read back.
- ``apply_event``: an electron event merged into the in-memory state columns of its node.
- ``manifest_blob_keys``: every blob a stored manifest needs to run again.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._serialize import blob_key
from .._status import Status, advances
from ..core.graph import DEFAULT_EXECUTOR, NodeKind
from ..core.manifest import DispatchManifest
from ..core.messages import AttemptRecord, AttemptRow
from .repository import NODE_STATE_COLUMNS


def timestamp(epoch: float | None) -> datetime | None:
    """A worker's epoch seconds as the schema's naive UTC timestamp."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).replace(tzinfo=None)


@dataclass
class Registration:
    """The rows that store a new dispatch."""

    dispatch: dict[str, Any]
    nodes: list[dict[str, Any]]  # every column of ``electrons``
    edges: list[dict[str, Any]]
    states: dict[int, dict[str, Any]]  # node_id -> state columns (the same values)
    kinds: dict[int, str]
    skeleton_key: str
    skeleton_data: bytes


def registration_rows(
    manifest: DispatchManifest,
    reused: dict[int, dict[str, Any]] | None,
    now: datetime,
    pending: bool = False,
) -> Registration:
    """The rows of a new RUNNING dispatch: parameters and reused electrons are stored
    COMPLETED (equal start and end times), every other node NEW_OBJECT. A ``pending``
    dispatch (registered without running, ``disable_run``) is stored NEW_OBJECT with no
    start time, until a trigger starts it."""
    g = manifest.graph
    skeleton = DispatchManifest(**{**manifest.__dict__, "blobs": {}})
    skeleton_data = pickle.dumps(skeleton)
    skeleton_key = blob_key(skeleton_data)
    default_executor = manifest.executor.short_name if manifest.executor else DEFAULT_EXECUTOR
    dispatch = {
        "dispatch_id": manifest.dispatch_id,
        "root_dispatch_id": manifest.root_id,
        "parent_dispatch_id": manifest.parent_dispatch_id,
        "parent_node_id": manifest.parent_node_id,
        "name": manifest.name,
        "status": Status.NEW_OBJECT if pending else Status.RUNNING,
        "created_at": now,
        "start_time": None if pending else now,
        "triggered_by": getattr(manifest, "triggered_by", None),
        "trigger_id": getattr(manifest, "trigger_id", None),
        "num_nodes": len(g.nodes),
        "inputs_blob": manifest.inputs,
        "inputs_repr": manifest.inputs_repr,
        "inputs_json": manifest.inputs_json,
        "lattice_blob": manifest.lattice,
        "lattice_source": manifest.lattice_source,
        "lattice_doc": manifest.lattice_doc,
        "manifest_blob": skeleton_key,
        "executor": default_executor,
        "workflow_executor": (
            manifest.workflow_executor.short_name
            if manifest.workflow_executor
            else DEFAULT_EXECUTOR
        ),
        "blob_keys": sorted({*manifest.blobs, skeleton_key}),
    }
    nodes, states, kinds = [], {}, {}
    for n in g.nodes:
        state: dict[str, Any] = {c: None for c in NODE_STATE_COLUMNS}
        state.update(status=Status.NEW_OBJECT, attempt=0)
        if n.kind is NodeKind.PARAMETER:
            state.update(
                status=Status.COMPLETED,
                start_time=now,
                end_time=now,
                output_blob=n.value,
                output_repr=n.value_repr,
                output_json=n.value_json,
            )
        elif reused and n.id in reused:
            state.update(status=Status.COMPLETED, start_time=now, end_time=now, **reused[n.id])
        executor = None
        if n.kind in (NodeKind.ELECTRON, NodeKind.SUBLATTICE):
            executor = n.executor.short_name if n.executor else default_executor
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
    return Registration(dispatch, nodes, edges, states, kinds, skeleton_key, skeleton_data)


def apply_event(state: dict[str, Any], event: Mapping[str, Any]) -> bool:
    """Merge an electron event into its node's state columns; False (and nothing
    changed) when the event would move the node back (see ``_status.advances``)."""
    if not advances(state["status"], event["status"]):
        return False
    for column in NODE_STATE_COLUMNS:
        if column in event and event[column] is not None:
            value = event[column]
            if column in ("start_time", "end_time"):
                value = timestamp(value)
            state[column] = value
    return True


def attempt_row(dispatch_id: str, node_id: int, tried: AttemptRecord) -> AttemptRow:
    """The ``attempts`` row of one finished try reported by a worker."""
    return {
        "dispatch_id": dispatch_id,
        "node_id": node_id,
        **tried,
        "start_time": timestamp(tried.get("start_time")),
        "end_time": timestamp(tried.get("end_time")),
    }


def manifest_blob_keys(manifest: DispatchManifest) -> list[str]:
    """Every blob a stored manifest needs to run again: functions, parameter values,
    executor instances, hooks, the result template, the inputs and the lattice."""
    keys = {k for n in manifest.graph.nodes for k in (n.function, n.value) if k}
    keys |= {
        n.executor.instance_blob
        for n in manifest.graph.nodes
        if n.executor and n.executor.instance_blob
    }
    keys |= {n.metadata["hooks"] for n in manifest.graph.nodes if "hooks" in n.metadata}
    keys |= {k for k in (manifest.output_template, manifest.inputs, manifest.lattice) if k}
    return sorted(keys)
