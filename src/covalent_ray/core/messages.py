"""The records that cross process boundaries, defined once.

Workers send ``ElectronEvent``s to the result manager (each with the ``AttemptRecord``s
of an electron's tries and, once it completed, its ``OutputFields``); a dispatch's final
task sends its ``ResultFields`` and an ``Outcome``; the result manager stores rows
(``DispatchRow``, ``NodeRow``, ``EdgeRow``, ``AttemptRow``) and answers ``get_result``
with a ``ResultRecord`` that the SDK rebuilds a ``Result`` from and the REST API turns
into its response models. Status values travel as ``Status`` (a ``str`` enum, so a row
read back from the database as plain strings compares equal).

Times: events carry epoch seconds (the worker's ``time.time()``); rows carry naive UTC
``datetime``s (the schema's convention, see ``storage.rows.timestamp``).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict, get_args

from .. import _serialize
from .._status import Status

#: the columns a list of dispatches may be sorted by
SortKey = Literal["created_at", "start_time", "end_time", "name", "status"]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
#: ``core.graph.EdgeKind`` values, as rows hold them
EdgeKindName = Literal["arg", "kwarg", "wait"]


class AttemptRecord(TypedDict, total=False):
    """One finished try of an electron, as its worker reports it."""

    attempt: int
    status: Status
    start_time: float | None
    end_time: float | None
    error: str | None
    ray_node_id: str | None
    worker_pid: int | None


class OutputFields(TypedDict):
    """A stored value: the pickled bytes, their key and the readable forms.

    A large value is written once as the blob's file where it was made (see
    ``runtime.worker``): then ``output_data`` is None and ``output_file`` names the file,
    so the bytes never travel through the result manager."""

    output_data: bytes | None
    output_blob: str
    output_repr: str
    output_json: str | None
    output_file: NotRequired[str]
    output_size: NotRequired[int]


class ResultFields(TypedDict, total=False):
    """A lattice's result, as its final task hands it to the result manager."""

    result_data: bytes | None
    result_blob: str
    result_repr: str
    result_json: str | None
    result_file: str  # as ``OutputFields.output_file``
    result_size: int


class NodeKey(TypedDict):
    """Which node of which dispatch an event is about (and, for one-try nodes, the try)."""

    dispatch_id: str
    node_id: int
    attempt: NotRequired[int]


class Where(TypedDict):
    """Where an electron ran."""

    ray_node_id: str | None
    worker_pid: int | None


class ElectronEvent(TypedDict):
    """A state change of one node of a dispatch (worker -> result manager).

    Only ``dispatch_id``, ``node_id`` and ``status`` are always there; a column that is
    absent or None leaves the stored value as it was."""

    dispatch_id: str
    node_id: int
    status: Status
    attempt: NotRequired[int]
    start_time: NotRequired[float | None]
    end_time: NotRequired[float | None]
    error: NotRequired[str | None]
    stdout: NotRequired[str]
    stderr: NotRequired[str]
    ray_node_id: NotRequired[str | None]
    worker_pid: NotRequired[int | None]
    sub_dispatch_id: NotRequired[str]
    output_data: NotRequired[bytes | None]
    output_blob: NotRequired[str]
    output_file: NotRequired[str]
    output_size: NotRequired[int]
    output_repr: NotRequired[str]
    output_json: NotRequired[str | None]
    attempts: NotRequired[list[AttemptRecord]]
    job_handle: NotRequired[str | None]
    remote_host: NotRequired[str | None]


@dataclass(frozen=True)
class Outcome:
    """How a dispatch ended (small: the result itself travels separately)."""

    dispatch_id: str
    status: Status
    error: str | None = None
    failed: tuple[int, ...] = ()  # node ids of the electrons that failed


class DispatchRow(TypedDict, total=False):
    """A row of ``dispatches`` (``storage.repository.DISPATCH_COLUMNS``)."""

    dispatch_id: str
    root_dispatch_id: str
    parent_dispatch_id: str | None
    parent_node_id: int | None
    name: str
    status: Status
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    error: str | None
    num_nodes: int
    inputs_blob: str | None
    inputs_repr: str | None
    inputs_json: str | None
    result_blob: str | None
    result_repr: str | None
    result_json: str | None
    lattice_blob: str | None
    lattice_source: str | None
    lattice_doc: str | None
    manifest_blob: str | None
    executor: str | None
    workflow_executor: str | None
    blob_keys: list[str]
    # added by some reads
    electron_counts: dict[str, int]
    children: list[ChildRow]


class NodeState(TypedDict, total=False):
    """The state columns of one node (``storage.repository.NODE_STATE_COLUMNS``)."""

    status: Status
    start_time: datetime | None
    end_time: datetime | None
    output_blob: str | None
    output_repr: str | None
    output_json: str | None
    error: str | None
    stdout: str | None
    stderr: str | None
    ray_node_id: str | None
    worker_pid: int | None
    attempt: int
    sub_dispatch_id: str | None
    reused_from: str | None
    job_handle: str | None
    remote_host: str | None


class AttemptRow(TypedDict, total=False):
    """A row of ``attempts``."""

    dispatch_id: str
    node_id: int
    attempt: int
    status: Status
    start_time: datetime | None
    end_time: datetime | None
    error: str | None
    ray_node_id: str | None
    worker_pid: int | None


class NodeRow(NodeState, total=False):
    """A row of ``electrons`` (``storage.repository.NODE_COLUMNS``)."""

    dispatch_id: str
    node_id: int
    name: str
    kind: str
    executor: str | None
    attempts: list[AttemptRow]  # added by ``get_result``


class EdgeRow(TypedDict):
    """A row of ``edges``."""

    dispatch_id: str
    parent_node_id: int
    child_node_id: int
    kind: EdgeKindName
    arg_index: int | None
    param_name: str | None


class ChildRow(TypedDict):
    """A sublattice's child dispatch, as listed with its parent."""

    dispatch_id: str
    name: str
    status: Status
    parent_node_id: int | None


class ResultRecord(TypedDict):
    """What ``get_result`` answers: everything needed to rebuild a dispatch's result."""

    dispatch: DispatchRow
    nodes: list[NodeRow]
    edges: list[EdgeRow] | None
    children: list[ChildRow]
    blobs: dict[str, bytes]  # blob key -> pickled bytes (inputs, result, outputs)
    # large blobs not sent along: key -> their file (read there, or fetched on use)
    blob_files: NotRequired[dict[str, str]]


class GraphNodeRow(TypedDict):
    """A node's state for drawing the graph (no values, no logs)."""

    node_id: int
    name: str
    kind: str
    status: Status
    executor: str | None
    start_time: datetime | None
    end_time: datetime | None
    sub_dispatch_id: str | None
    attempt: int


class GraphView(TypedDict):
    """A dispatch's graph as the dashboard draws it."""

    nodes: list[GraphNodeRow]
    edges: list[EdgeRow]


class InputRow(TypedDict):
    """One input of a node: the parent's readable output and the parameter it binds."""

    kind: EdgeKindName
    arg_index: int | None
    param_name: str | None
    parent_node_id: int
    parent_name: str
    parent_kind: str
    output_repr: str | None
    output_json: str | None


class ExecutorSettings(TypedDict):
    """The executor an electron ran on: its short name, its type and its settings (as
    its ``config``, secrets redacted)."""

    name: str
    type: str
    settings: dict[str, Any]


class ElectronDetail(TypedDict):
    """One node's row (None for an unknown node), its inputs and its attempts, its source
    and its executor's settings (None for nodes that are not electrons)."""

    node: NodeRow | None
    inputs: list[InputRow]
    attempts: list[AttemptRow]
    source: str | None
    executor: ExecutorSettings | None


class TimelineView(TypedDict):
    """What a Gantt chart of a dispatch needs: its status and times, and every node but
    the parameters with its times, placement and attempts (``NodeRow`` columns)."""

    status: Status
    start_time: datetime | None
    end_time: datetime | None
    nodes: list[NodeRow]


# -- building the records ------------------------------------------------------------


def output_fields(value: Any, what: str) -> OutputFields:
    """The stored forms of an electron's output (``what`` names it in errors)."""
    data = _serialize.dumps(value, what)
    return {
        "output_data": data,
        "output_blob": _serialize.blob_key(data),
        "output_repr": _serialize.readable(value),
        "output_json": _serialize.as_json(value),
    }


def result_fields(out: OutputFields) -> ResultFields:
    """A lattice result's stored forms, from its ``output_fields`` (perhaps written to
    its file already)."""
    fields: ResultFields = {
        "result_data": out["output_data"],
        "result_blob": out["output_blob"],
        "result_repr": out["output_repr"],
        "result_json": out["output_json"],
    }
    if "output_file" in out:
        fields["result_file"] = out["output_file"]
        fields["result_size"] = out["output_size"]
    return fields


#: bytes kept of each stream an electron writes (it may print gigabytes), by any executor
OUTPUT_LIMIT = 1_000_000


def read_output(f: Any) -> str:
    """Read a captured stream from the binary file ``f`` (at its current position), cut
    at ``OUTPUT_LIMIT`` bytes with a note saying so."""
    data = f.read(OUTPUT_LIMIT + 1)
    text: str = data[:OUTPUT_LIMIT].decode("utf-8", errors="replace")
    if len(data) > OUTPUT_LIMIT:
        text += f"\n[output truncated after {OUTPUT_LIMIT} bytes]"
    return text


def error_text(exc: BaseException) -> str:
    """The full traceback of ``exc``, as stored in an electron's ``error``."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def error_summary(exc: BaseException) -> str:
    """``ExcType: first line of the message``, for one-line failure reports."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def last_line(text: str | None, default: str = "failed") -> str:
    """The last non-blank line of a stored error (a traceback's ``ExcType: message``)."""
    lines = [line for line in (text or default).strip().splitlines() if line.strip()]
    return lines[-1] if lines else default


def worker_text(pid: int | None, ray_node_id: str | None, node_lost: bool = False) -> str:
    """``worker process (pid 12 on Ray node 3f2a...)``: where an attempt ran, for errors;
    ``node_lost`` says that node has left the cluster."""
    where = [f"pid {pid}"] if pid else []
    if ray_node_id:
        where.append(f"on Ray node {ray_node_id}")
    text = f"worker process ({' '.join(where)})" if where else "worker process"
    if node_lost:
        text += ", whose node was lost (its raylet died or the machine left the cluster),"
    return text


def node_label(name: str | None, node_id: int, dispatch_id: str) -> str:
    """``electron 'f' (node 3 of dispatch D)``: how errors name an electron."""
    return electron_label({"node_name": name, "node_id": node_id, "dispatch_id": dispatch_id})


def electron_label(task_metadata: Mapping[str, Any], function: Any = None) -> str:
    """How errors name an electron: ``electron 'f' (node 3 of dispatch D)``, from the
    ``task_metadata`` executors receive (what is unknown is left out)."""
    name = task_metadata.get("node_name") or getattr(function, "__name__", "electron")
    label = f"electron {name!r}"
    if task_metadata.get("node_id") is not None:
        where = f"node {task_metadata['node_id']}"
        if task_metadata.get("dispatch_id"):
            where += f" of dispatch {task_metadata['dispatch_id']}"
        label += f" ({where})"
    return label
