"""``Result``: everything stored about one dispatch, as Covalent's Result presents it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import _serialize
from .._status import Status


class TransportableObject:
    """A stored value with its readable forms (Covalent's wrapper for node outputs).

    ``get_deserialized()`` returns the value; ``object_string`` its repr; ``json`` its JSON
    form when it has one.
    """

    def __init__(
        self, data: bytes | None, object_string: str | None = None, json: str | None = None
    ) -> None:
        self._data = data
        self.object_string = object_string
        self.json = json

    def get_deserialized(self) -> Any:
        """The value itself."""
        return None if self._data is None else _serialize.loads(self._data)

    def get_serialized(self) -> bytes | None:
        """The cloudpickled bytes."""
        return self._data

    def __repr__(self) -> str:
        return f"TransportableObject({self.object_string})"


class Result:
    """The state and outputs of a dispatch."""

    NEW_OBJ = Status.NEW_OBJECT
    NEW_OBJECT = Status.NEW_OBJECT
    RUNNING = Status.RUNNING
    COMPLETED = Status.COMPLETED
    FAILED = Status.FAILED
    CANCELLED = Status.CANCELLED
    POSTPROCESSING_FAILED = Status.POSTPROCESSING_FAILED

    def __init__(
        self,
        record: dict[str, Any],
        *,
        workflow_output: bool = True,
        intermediate_outputs: bool = True,
        fetch_child: Callable[[str], Result | None] | None = None,
        fetch_edges: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._row = record["dispatch"]
        self._nodes = {n["node_id"]: n for n in record["nodes"]}
        self._edges = record.get("edges")
        self._fetch_edges = fetch_edges
        self._children = record.get("children", [])
        self._blobs: dict[str, bytes] = record.get("blobs", {})
        self._workflow_output = workflow_output
        self._intermediate = intermediate_outputs
        self._fetch_child = fetch_child

    # -- dispatch ---------------------------------------------------------------------

    @property
    def dispatch_id(self) -> str:
        """This dispatch's ID."""
        return str(self._row["dispatch_id"])

    @property
    def root_dispatch_id(self) -> str:
        """The top-level dispatch (itself unless this is a sublattice's dispatch)."""
        return str(self._row["root_dispatch_id"])

    @property
    def parent_dispatch_id(self) -> str | None:
        """The dispatch whose sublattice node started this one, if any."""
        return self._row["parent_dispatch_id"]

    @property
    def status(self) -> Status:
        """Current status (``ct.status`` values)."""
        return Status(self._row["status"])

    @property
    def result(self) -> Any:
        """The lattice's return value, once COMPLETED (None before, or if not fetched)."""
        key = self._row["result_blob"]
        if not self._workflow_output or not key or key not in self._blobs:
            return None
        return _serialize.loads(self._blobs[key])

    @property
    def encoded_result(self) -> TransportableObject:
        """The result with its readable forms."""
        key = self._row["result_blob"]
        data = self._blobs.get(key) if key and self._workflow_output else None
        return TransportableObject(data, self._row["result_repr"], self._row["result_json"])

    @property
    def error(self) -> str | None:
        """Why the dispatch failed, naming each failed electron."""
        return self._row["error"]

    @property
    def inputs(self) -> dict[str, Any]:
        """The lattice's inputs: ``{"args": [...], "kwargs": {...}}``."""
        key = self._row["inputs_blob"]
        if not key or key not in self._blobs:
            return {"args": [], "kwargs": {}}
        return _serialize.loads(self._blobs[key])

    @property
    def start_time(self) -> datetime | None:
        """When the dispatch started (UTC)."""
        return self._row["start_time"]

    @property
    def end_time(self) -> datetime | None:
        """When the dispatch ended (UTC)."""
        return self._row["end_time"]

    @property
    def lattice(self) -> Any:
        """The dispatched lattice object."""
        key = self._row["lattice_blob"]
        if not key or key not in self._blobs:
            return None
        return _serialize.loads(self._blobs[key])

    @property
    def lattice_source(self) -> str | None:
        """Source code of the lattice function."""
        return self._row["lattice_source"]

    @property
    def num_nodes(self) -> int:
        """Nodes in the transport graph (parameters included)."""
        return int(self._row["num_nodes"])

    @property
    def children(self) -> list[dict[str, Any]]:
        """Child dispatches (sublattices): id, name, status, parent node."""
        return list(self._children)

    # -- electrons --------------------------------------------------------------------

    def _output(self, node: dict[str, Any]) -> TransportableObject | None:
        key = node["output_blob"]
        if key is None or not self._intermediate:
            return None
        return TransportableObject(self._blobs.get(key), node["output_repr"], node["output_json"])

    def get_node_result(self, node_id: int) -> dict[str, Any]:
        """Everything about one node: its status, times, output, error and logs."""
        if node_id not in self._nodes:
            raise KeyError(
                f"dispatch {self.dispatch_id} has no node {node_id} "
                f"(it has nodes 0..{len(self._nodes) - 1})"
            )
        n = self._nodes[node_id]
        sub = n["sub_dispatch_id"]
        return {
            "node_id": node_id,
            "node_name": n["name"],
            "kind": n["kind"],
            "status": Status(n["status"]),
            "start_time": n["start_time"],
            "end_time": n["end_time"],
            "output": self._output(n),
            "error": n["error"],
            "stdout": n["stdout"],
            "stderr": n["stderr"],
            "executor": n["executor"],
            "ray_node_id": n["ray_node_id"],
            "worker_pid": n["worker_pid"],
            "attempt": n["attempt"],
            "attempts": list(n.get("attempts") or []),
            "reused_from": n.get("reused_from"),
            "sub_dispatch_id": sub,
            "sublattice_result": (self._fetch_child(sub) if sub and self._fetch_child else None),
        }

    def get_all_node_outputs(self) -> dict[str, Any]:
        """``{"name(node_id)": output}`` for every node that has an output."""
        out: dict[str, Any] = {}
        for nid, n in self._nodes.items():
            obj = self._output(n)
            if obj is not None:
                out[f"{n['name']}({nid})"] = obj.get_deserialized()
        return out

    def get_all_node_results(self) -> list[dict[str, Any]]:
        """:meth:`get_node_result` of every node, by node id."""
        return [self.get_node_result(nid) for nid in sorted(self._nodes)]

    @property
    def edges(self) -> list[dict[str, Any]]:
        """The transport graph's edges (fetched on first use)."""
        if self._edges is None:
            self._edges = self._fetch_edges() if self._fetch_edges else []
        return list(self._edges)

    def __repr__(self) -> str:
        done = self.status is Status.COMPLETED
        return (
            f"Result(dispatch_id={self.dispatch_id!r}, status={self.status.value}, "
            f"result={_serialize.readable(self.result) if done else None})"
        )

    def __str__(self) -> str:
        lines = [
            f"Lattice: {self._row['name']}",
            f"Dispatch ID: {self.dispatch_id}",
            f"Status: {self.status.value}",
            f"Start: {self.start_time}",
            f"End: {self.end_time}",
        ]
        if self.error:
            lines.append(f"Error: {self.error}")
        if self.status is Status.COMPLETED:
            lines.append(f"Result: {_serialize.readable(self.result)}")
        return "\n".join(lines)
