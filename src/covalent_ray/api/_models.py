"""Request and response bodies of the REST API (pydantic), and their construction from
the rows the result manager's read queries return.

Stored values reach the API only in their readable forms (the bounded ``repr`` and, for
values made of JSON types, the JSON): the server never unpickles user objects, which
would need the user's modules and would run their code in the service.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .._status import Status

#: Dispatch IDs are UUIDs; the pattern keeps anything else out of the database layer.
DISPATCH_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
#: Node ids are DuckDB INTEGERs
MAX_NODE_ID = 2**31 - 1
SortKey = Literal["created_at", "start_time", "end_time", "name", "status"]


def _as_utc(value: datetime | None) -> datetime | None:
    # the database stores naive UTC; an explicit offset keeps browsers from reading
    # the times as local time
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoredValue(_Model):
    """A stored value in readable form."""

    text: str | None = Field(None, description="Bounded repr of the value (None if absent).")
    value: Any = Field(None, description="The value itself when it is made of JSON types.")
    is_json: bool = Field(False, description="Whether `value` holds the value (else only `text`).")

    @classmethod
    def of(cls, text: str | None, json_text: str | None) -> StoredValue:
        """From a ``*_repr`` and a ``*_json`` column."""
        if json_text is None:
            return cls(text=text, value=None, is_json=False)
        return cls(text=text, value=json.loads(json_text), is_json=True)


class ErrorBody(_Model):
    """Every error response of the API."""

    detail: str = Field(description="What went wrong, and what to do about it.")
    error: str = Field(description="The error's kind (an exception class name).")


class ChildDispatch(_Model):
    """A sublattice's dispatch, started by one node of its parent."""

    dispatch_id: str
    name: str
    status: Status
    parent_node_id: int | None


class DispatchSummary(_Model):
    """One dispatch as listed."""

    dispatch_id: str
    name: str
    status: Status
    root_dispatch_id: str
    parent_dispatch_id: str | None
    created_at: UtcDatetime
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    duration_s: float | None = Field(description="end_time - start_time, once ended.")
    num_nodes: int = Field(description="Nodes of the transport graph, parameters included.")
    electron_counts: dict[str, int] = Field(
        description="How many nodes (parameters excluded) are in each status."
    )
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DispatchSummary:
        """From a ``list_dispatches`` row."""
        return cls(
            dispatch_id=row["dispatch_id"],
            name=row["name"],
            status=row["status"],
            root_dispatch_id=row["root_dispatch_id"],
            parent_dispatch_id=row["parent_dispatch_id"],
            created_at=row["created_at"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            duration_s=_duration(row["start_time"], row["end_time"]),
            num_nodes=row["num_nodes"],
            electron_counts=row.get("electron_counts") or {},
            error=row["error"],
        )


class DispatchFilter(_Model):
    """Which dispatches to list, in which order (query parameters)."""

    status: list[Status] = Field([], description="Only these statuses (repeat the parameter).")
    name: str | None = Field(
        None, max_length=200, description="Only names containing this (case-insensitive)."
    )
    root_only: bool = Field(False, description="Leave out sublattices' child dispatches.")
    sort: SortKey = "created_at"
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=MAX_NODE_ID)


class DispatchPage(_Model):
    """A page of dispatches and how many match in all."""

    items: list[DispatchSummary]
    total: int
    limit: int
    offset: int


class DispatchDetail(DispatchSummary):
    """Everything about one dispatch but its graph."""

    parent_node_id: int | None
    inputs: StoredValue = Field(
        description='The lattice\'s inputs: {"args": [...], "kwargs": {...}}.'
    )
    result: StoredValue = Field(description="The lattice's return value (once COMPLETED).")
    lattice_source: str | None
    lattice_doc: str | None
    executor: str | None
    workflow_executor: str | None
    children: list[ChildDispatch]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DispatchDetail:
        """From a ``dispatch_summary`` row."""
        base = DispatchSummary.from_row(row).model_dump()
        return cls(
            **base,
            parent_node_id=row["parent_node_id"],
            inputs=StoredValue.of(row["inputs_repr"], row["inputs_json"]),
            result=StoredValue.of(row["result_repr"], row["result_json"]),
            lattice_source=row["lattice_source"],
            lattice_doc=row["lattice_doc"],
            executor=row["executor"],
            workflow_executor=row["workflow_executor"],
            children=[ChildDispatch(**c) for c in row["children"]],
        )


class GraphNode(_Model):
    """A transport-graph node with its current state (no values: see the electron)."""

    id: int
    name: str
    kind: str = Field(description="electron, parameter, sublattice, electron_list, getitem...")
    status: Status
    executor: str | None
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    sub_dispatch_id: str | None
    attempt: int


class GraphEdge(_Model):
    """The parent's output feeds the child as an argument (or an ordering-only ``wait``)."""

    source: int
    target: int
    kind: Literal["arg", "kwarg", "wait"]
    arg_index: int | None
    param_name: str | None


class Graph(_Model):
    """A dispatch's transport graph."""

    dispatch_id: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    @classmethod
    def from_read(cls, dispatch_id: str, data: dict[str, Any]) -> Graph:
        """From a ``graph_view`` read."""
        return cls(
            dispatch_id=dispatch_id,
            nodes=[
                GraphNode(
                    id=n["node_id"],
                    name=n["name"],
                    kind=n["kind"],
                    status=n["status"],
                    executor=n["executor"],
                    start_time=n["start_time"],
                    end_time=n["end_time"],
                    sub_dispatch_id=n["sub_dispatch_id"],
                    attempt=n["attempt"],
                )
                for n in data["nodes"]
            ],
            edges=[
                GraphEdge(
                    source=e["parent_node_id"],
                    target=e["child_node_id"],
                    kind=e["kind"],
                    arg_index=e["arg_index"],
                    param_name=e["param_name"],
                )
                for e in data["edges"]
            ],
        )


class ElectronInput(_Model):
    """One input of a node: which parent's output, bound to which parameter."""

    kind: Literal["arg", "kwarg", "wait"]
    arg_index: int | None
    param_name: str | None
    source_node_id: int
    source_name: str
    source_kind: str
    value: StoredValue


class Attempt(_Model):
    """One try of an electron (retries and re-runs after a crash add more)."""

    attempt: int
    status: Status
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    error: str | None
    ray_node_id: str | None
    worker_pid: int | None


class ElectronDetail(_Model):
    """Everything stored about one node of a dispatch."""

    dispatch_id: str
    node_id: int
    name: str
    kind: str
    status: Status
    executor: str | None
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    duration_s: float | None
    inputs: list[ElectronInput]
    output: StoredValue
    stdout: str | None
    stderr: str | None
    error: str | None = Field(description="The exception with its traceback, if it failed.")
    ray_node_id: str | None = Field(description="The Ray node that ran it.")
    worker_pid: int | None
    attempt: int = Field(description="Attempts made (more than 1 after retries).")
    attempts: list[Attempt] = Field(description="Each finished attempt, oldest first.")
    sub_dispatch_id: str | None = Field(description="The child dispatch of a sublattice node.")
    reused_from: str | None = Field(
        None, description="The dispatch whose stored output a redispatch reused."
    )

    @classmethod
    def from_read(cls, dispatch_id: str, data: dict[str, Any]) -> ElectronDetail:
        """From an ``electron_detail`` read."""
        n = data["node"]
        return cls(
            dispatch_id=dispatch_id,
            node_id=n["node_id"],
            name=n["name"],
            kind=n["kind"],
            status=n["status"],
            executor=n["executor"],
            start_time=n["start_time"],
            end_time=n["end_time"],
            duration_s=_duration(n["start_time"], n["end_time"]),
            inputs=[
                ElectronInput(
                    kind=i["kind"],
                    arg_index=i["arg_index"],
                    param_name=i["param_name"],
                    source_node_id=i["parent_node_id"],
                    source_name=i["parent_name"],
                    source_kind=i["parent_kind"],
                    value=StoredValue.of(i["output_repr"], i["output_json"]),
                )
                for i in data["inputs"]
            ],
            output=StoredValue.of(n["output_repr"], n["output_json"]),
            stdout=n["stdout"],
            stderr=n["stderr"],
            error=n["error"],
            ray_node_id=n["ray_node_id"],
            worker_pid=n["worker_pid"],
            attempt=n["attempt"],
            attempts=[
                Attempt(**{k: a[k] for k in Attempt.model_fields}) for a in data.get("attempts", [])
            ],
            sub_dispatch_id=n["sub_dispatch_id"],
            reused_from=n.get("reused_from"),
        )


class EventsQuery(_Model):
    """Which changes the live stream carries, from where, and for how long."""

    dispatch_id: str | None = Field(
        None, pattern=DISPATCH_ID_PATTERN, description="Only changes of this dispatch."
    )
    since: int | None = Field(
        None,
        ge=0,
        le=2**62,
        description=("Start after this sequence number (default: Last-Event-ID, else from now)."),
    )
    until_end: bool = Field(False, description="With dispatch_id: close once it has ended.")
    limit: int | None = Field(
        None, ge=0, le=1_000_000, description="Close after this many `changes` events."
    )


class Health(_Model):
    """Whether the server and the result manager behind it answer."""

    status: Literal["ok"]
    result_manager: Literal["ok"]


class Version(_Model):
    """Versions of the API and the software serving it."""

    api: Literal["v1"] = "v1"
    covalent_ray: str
    ray: str
    python: str


class Stats(_Model):
    """Stored dispatches by status."""

    dispatches_by_status: dict[str, int]


class CancelRequest(_Model):
    """Which electrons to cancel (all of the dispatch when omitted)."""

    task_ids: list[Annotated[int, Field(ge=0, le=MAX_NODE_ID)]] | None = Field(
        None,
        max_length=100_000,
        description="Node ids to cancel; omit to cancel the whole dispatch.",
    )


class RedispatchRequest(_Model):
    """How to run a stored dispatch again (with its stored inputs)."""

    reuse_previous_results: bool = Field(
        False,
        description="Electrons whose code and inputs are unchanged reuse their stored "
        "outputs instead of running again.",
    )


class DispatchCreated(_Model):
    """A dispatch just started."""

    dispatch_id: str
    redispatch_of: str


class Deleted(_Model):
    """What a delete removed."""

    deleted: list[str] = Field(
        description="The dispatch and the child dispatches of its "
        "sublattices, removed with their stored objects."
    )


class Cancelled(_Model):
    """What a cancel stopped."""

    dispatch_id: str
    cancelled: list[int] = Field(
        description="Electrons marked CANCELLED (the whole "
        "dispatch ends CANCELLED when none was named)."
    )
