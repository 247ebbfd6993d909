"""Request and response bodies of the REST API (pydantic), and their construction from
the rows the result manager's read queries return.

Stored values reach the API only in their readable forms (the bounded ``repr`` and, for
values made of JSON types, the JSON): the server never unpickles user objects, which
would need the user's modules and would run their code in the service. (Redispatch
through the API launches the stored graph again; its electrons unpickle on the workers.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .._status import Status
from ..core import messages as m
from ..core.graph_groups import GROUP_ABOVE, GroupedGraph, GroupMode
from ..core.messages import SortKey

#: Dispatch IDs are UUIDs; the pattern keeps anything else out of the database layer.
DISPATCH_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
#: Node ids are DuckDB INTEGERs
MAX_NODE_ID = 2**31 - 1


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
    def from_row(cls, row: m.DispatchRow) -> DispatchSummary:
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


def _naive_utc(moment: datetime) -> datetime:
    # the store keeps naive UTC times
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


NaiveUtc = Annotated[datetime, AfterValidator(_naive_utc)]


class DispatchFilter(_Model):
    """Which dispatches to list, in which order (query parameters)."""

    status: list[Status] = Field([], description="Only these statuses (repeat the parameter).")
    name: str | None = Field(
        None, max_length=200, description="Only names containing this (case-insensitive)."
    )
    root_only: bool = Field(False, description="Leave out sublattices' child dispatches.")
    since: NaiveUtc | None = Field(
        None, description="Only created at or after this time (ISO 8601; UTC without a zone)."
    )
    until: NaiveUtc | None = Field(None, description="Only created before this time.")
    executor: str | None = Field(
        None,
        max_length=100,
        description="Only dispatches whose lattice or any electron uses this executor.",
    )
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
    def from_row(cls, row: m.DispatchRow) -> DispatchDetail:
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
    """The parent's output feeds the child as an argument (or an ordering-only ``wait``).
    In a grouped graph, ``source`` and ``target`` may be group IDs and one edge stands
    for ``count`` edges of the graph."""

    source: int
    target: int
    kind: m.EdgeKindName
    arg_index: int | None
    param_name: str | None
    count: int = 1


class GraphGroup(_Model):
    """Repeated nodes of one function (or kind) drawn as one (see ``core.graph_groups``)."""

    id: int = Field(description="The smallest member's node ID.")
    name: str
    kind: str
    size: int
    counts: dict[Status, int] = Field(description="How many members are in each status.")
    members: list[int] = Field(description="The members' node IDs, ascending.")
    statuses: list[Status] = Field(description="Each member's status, as `members`.")


class GraphQuery(_Model):
    """How the graph is answered (query parameters)."""

    group: GroupMode = Field(
        "none",
        description="`auto`: aggregate repeated electrons into groups above `threshold` "
        "nodes; `all`: always; `none`: every node as it is.",
    )
    threshold: int = Field(GROUP_ABOVE, ge=1, le=10_000_000)
    expand: list[Annotated[int, Field(ge=0, le=MAX_NODE_ID)]] = Field(
        [], max_length=1000, description="Group IDs whose members are drawn as nodes."
    )


class Graph(_Model):
    """A dispatch's transport graph, maybe grouped (then ``nodes`` are the nodes kept as
    they are and ``groups`` the aggregated ones)."""

    dispatch_id: str
    grouped: bool = False
    total_nodes: int = Field(0, description="Nodes in the whole graph.")
    nodes: list[GraphNode]
    groups: list[GraphGroup] = []
    edges: list[GraphEdge]

    @classmethod
    def from_read(cls, dispatch_id: str, data: m.GraphView) -> Graph:
        """From a ``graph_view`` read."""
        return cls(
            dispatch_id=dispatch_id,
            total_nodes=len(data["nodes"]),
            nodes=[_graph_node(n) for n in data["nodes"]],
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

    @classmethod
    def from_grouped(cls, dispatch_id: str, data: GroupedGraph) -> Graph:
        """From :func:`core.graph_groups.group_graph` over a ``graph_view`` read."""
        return cls(
            dispatch_id=dispatch_id,
            grouped=data["grouped"],
            total_nodes=data["total_nodes"],
            nodes=[_graph_node(n) for n in data["nodes"]],
            groups=[GraphGroup.model_validate(g) for g in data["groups"]],
            edges=[GraphEdge.model_validate(e) for e in data["edges"]],
        )


def _graph_node(n: Any) -> GraphNode:
    return GraphNode(
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


class ElectronInput(_Model):
    """One input of a node: which parent's output, bound to which parameter."""

    kind: m.EdgeKindName
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


class ExecutorSettings(_Model):
    """An executor and its settings, as its ``config`` gives them."""

    name: str = Field(description="Its short name (dask, local, ray, ssh, slurm, ...).")
    type: str = Field(description="Its class (module and name).")
    settings: dict[str, Any] = Field(description="Its settings; secrets show as ***.")


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
    job_handle: str | None = Field(
        None,
        description="What a remote executor recorded to find its job again: the Slurm job "
        "ID, the SSH runner's host, pid and task directory.",
    )
    remote_host: str | None = Field(
        None, description="The host a remote executor (SSH, Slurm) ran it on (user@host:port)."
    )
    source: str | None = Field(
        None, description="The electron's source code, when Python could find it."
    )
    executor_settings: ExecutorSettings | None = Field(
        None, description="The executor it ran on, with its settings (secrets redacted)."
    )

    @classmethod
    def from_read(cls, dispatch_id: str, data: m.ElectronDetail) -> ElectronDetail:
        """From an ``electron_detail`` read (of a known node)."""
        n = data["node"]
        assert n is not None
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
                Attempt.model_validate({k: v for k, v in a.items() if k in Attempt.model_fields})
                for a in data["attempts"]
            ],
            sub_dispatch_id=n["sub_dispatch_id"],
            reused_from=n.get("reused_from"),
            job_handle=n.get("job_handle"),
            remote_host=n.get("remote_host"),
            source=data.get("source"),
            executor_settings=(
                ExecutorSettings.model_validate(data["executor"]) if data.get("executor") else None
            ),
        )


class TimelineNode(_Model):
    """One node of a dispatch on its timeline: when and where it ran, and each attempt."""

    id: int
    name: str
    kind: str
    status: Status
    executor: str | None
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    ray_node_id: str | None = Field(description="The Ray node that ran its last attempt.")
    worker_pid: int | None = Field(description="The worker process of its last attempt.")
    attempt: int
    sub_dispatch_id: str | None
    attempts: list[Attempt] = Field(
        description="Each finished attempt, oldest first (empty while the first runs)."
    )


class Timeline(_Model):
    """A dispatch's nodes (parameters left out) with their times, for a Gantt chart."""

    dispatch_id: str
    status: Status
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    nodes: list[TimelineNode]

    @classmethod
    def from_read(cls, dispatch_id: str, data: m.TimelineView) -> Timeline:
        """From a ``timeline`` read."""
        return cls(
            dispatch_id=dispatch_id,
            status=data["status"],
            start_time=data["start_time"],
            end_time=data["end_time"],
            nodes=[
                TimelineNode.model_validate(
                    {
                        **{k: v for k, v in n.items() if k in TimelineNode.model_fields},
                        "id": n["node_id"],
                        "attempts": [
                            {k: v for k, v in a.items() if k in Attempt.model_fields}
                            for a in n["attempts"]
                        ],
                    }
                )
                for n in data["nodes"]
            ],
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


class TriggerSummary(_Model):
    """One trigger registered with the service."""

    trigger_id: str
    dispatch_id: str = Field(description="The dispatch its firings start or run again.")
    kind: str = Field(description="Its class: DirTrigger, TimeTrigger or a custom one.")
    settings: dict[str, Any] = Field(description="Its settings (dir_path, time_gap, ...).")
    state: Literal["active", "stopped"]
    created_at: str
    stopped_at: str | None
    firings: int = Field(description="How many times it has fired.")
    last_fired_at: str | None
    error: str | None = Field(description="What its last firing met, if it failed.")


class TriggerList(_Model):
    """Registered triggers, oldest first."""

    items: list[TriggerSummary]


class TriggeredRun(_Model):
    """A dispatch one of the triggers started (a new run of the registered dispatch)."""

    dispatch_id: str
    status: Status
    created_at: str
    trigger_id: str | None


class DispatchTriggers(_Model):
    """A dispatch's triggers and where its runs came from."""

    dispatch_id: str
    triggered_by: str | None = Field(
        description="The dispatch whose trigger started this one; null unless one did."
    )
    trigger_id: str | None = Field(description="The trigger that started this one.")
    triggers: list[TriggerSummary] = Field(description="The triggers registered for it.")
    runs: list[TriggeredRun] = Field(description="The latest runs its triggers started.")
    runs_total: int = Field(description="How many runs its triggers started in all.")


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


class CompareQuery(_Model):
    """Which node pairs a comparison lists (query parameters)."""

    differences_only: bool = Field(
        False, description="List only pairs that differ (status, output or duration)."
    )
    limit: int = Field(2000, ge=1, le=200_000, description="List at most this many pairs.")


class ComparedNode(_Model):
    """One node of one of the two dispatches."""

    node_id: int
    status: Status
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    duration_s: float | None
    output: StoredValue
    error: str | None


class ComparedPair(_Model):
    """A node and its counterpart in the other dispatch (paired by name and occurrence)."""

    name: str
    occurrence: int = Field(description="0 for the first node of this name, 1 for the next...")
    kind: str
    left: ComparedNode | None = Field(description="None: only the right dispatch has it.")
    right: ComparedNode | None = Field(description="None: only the left dispatch has it.")
    status_changed: bool
    output_changed: bool | None = Field(description="None: neither side has an output yet.")
    duration_delta_s: float | None = Field(description="right - left.")
    duration_ratio: float | None = Field(description="right / left.")
    trend: Literal["slower", "faster", "same"] | None = Field(
        description="Beyond noise (max(0.1 s, 25 %)), right ran slower or faster."
    )
    differs: bool


class ComparedValue(_Model):
    """The inputs or the result of both dispatches."""

    changed: bool | None
    left: StoredValue
    right: StoredValue


class CompareTotals(_Model):
    """How many pairs differ, and how (over all nodes, whatever the limit)."""

    paired: int
    only_left: int
    only_right: int
    status_changed: int
    output_changed: int
    slower: int
    faster: int


class Comparison(_Model):
    """Two dispatches side by side."""

    left: DispatchSummary
    right: DispatchSummary
    same_graph: bool = Field(description="Both graphs have the same nodes in the same order.")
    inputs: ComparedValue
    result: ComparedValue
    duration_delta_s: float | None
    duration_ratio: float | None
    trend: Literal["slower", "faster", "same"] | None
    totals: CompareTotals
    nodes: list[ComparedPair]
    truncated: bool = Field(description="More pairs matched than `limit` lets through.")

    @classmethod
    def build(
        cls,
        left: m.DispatchRow,
        right: m.DispatchRow,
        data: Any,
        *,
        differences_only: bool,
        limit: int,
    ) -> Comparison:
        """From two dispatch summaries and a ``core.compare.compare`` answer."""

        def node(n: Any) -> ComparedNode | None:
            if n is None:
                return None
            return ComparedNode(
                node_id=n["node_id"],
                status=n["status"],
                start_time=n["start_time"],
                end_time=n["end_time"],
                duration_s=n["duration_s"],
                output=StoredValue.of(n["output_repr"], n["output_json"]),
                error=n["error"],
            )

        def value(v: Any) -> ComparedValue:
            return ComparedValue(
                changed=v["changed"],
                left=StoredValue.of(v["left_repr"], v["left_json"]),
                right=StoredValue.of(v["right_repr"], v["right_json"]),
            )

        pairs = [p for p in data["nodes"] if p["differs"] or not differences_only]
        return cls(
            left=DispatchSummary.from_row(left),
            right=DispatchSummary.from_row(right),
            same_graph=data["same_graph"],
            inputs=value(data["inputs"]),
            result=value(data["result"]),
            duration_delta_s=data["duration_delta_s"],
            duration_ratio=data["duration_ratio"],
            trend=data["trend"],
            totals=CompareTotals(**data["totals"]),
            nodes=[
                ComparedPair(
                    **{k: v for k, v in p.items() if k not in ("left", "right")},
                    left=node(p["left"]),
                    right=node(p["right"]),
                )
                for p in pairs[:limit]
            ],
            truncated=len(pairs) > limit,
        )


class EffectiveConfig(_Model):
    """The settings in effect (defaults, plugins' defaults, the config file, the running
    service's address), with secrets' values hidden."""

    config: dict[str, Any]
    file: str = Field(description="The home's config file (it may not exist yet).")
    redacted: list[str] = Field(description="Dotted keys whose values are hidden.")


class LogTail(_Model):
    """The end of the service's log, and where to follow it from."""

    path: str
    text: str
    offset: int = Field(description="Byte offset after `text`: follow from here.")
    exists: bool
