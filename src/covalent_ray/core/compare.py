"""Two dispatches side by side: what changed between a run and its redispatch (or two
points of a sweep).

:func:`compare` takes each dispatch as plain data (its row and its nodes' rows, as the
store reads them) and answers, without touching storage or Ray:

- whether the inputs and the result differ;
- every node paired with its counterpart in the other dispatch, with both statuses,
  whether the outputs differ, and whether it ran slower or faster.

Pairing. Nodes are paired by name and occurrence: the third ``add`` of one dispatch with
the third ``add`` of the other (nodes in build order); parameters, whose names hold their
values, pair in build order among parameters. A redispatch of the same lattice
pairs node with node; a changed lattice still pairs what both have, and lists the rest as
present on one side only.

Sameness of values. Two stored values are the same when both are JSON and equal, else
when their pickles are the same blob (blob keys are content hashes), else when their
readable forms are equal. Nothing is unpickled. Values whose pickle depends on iteration
order (a set of strings) may count as changed when they are not.

Durations. A node is ``slower`` (``faster``) when its second duration exceeds (falls
short of) the first by more than ``max(SLOWER_ABS_S, SLOWER_REL * first)``: below that,
scheduling noise, not the code, makes the difference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

#: A change in duration smaller than this many seconds is noise
SLOWER_ABS_S = 0.1
#: ...and so is one smaller than this fraction of the first duration
SLOWER_REL = 0.25

#: Parameters pair in build order under this name, whatever their values
PARAMETER = ":parameter:"

Trend = Literal["slower", "faster", "same"]


class NodeSide(TypedDict):
    """One node of one of the two dispatches."""

    node_id: int
    kind: str
    status: str
    start_time: datetime | None
    end_time: datetime | None
    duration_s: float | None
    output_repr: str | None
    output_json: str | None
    error: str | None


class NodePair(TypedDict):
    """A node and its counterpart (``None`` where one dispatch has no such node)."""

    name: str
    occurrence: int
    kind: str
    left: NodeSide | None
    right: NodeSide | None
    status_changed: bool
    output_changed: bool | None  # None: neither side has an output to compare
    duration_delta_s: float | None  # right - left
    duration_ratio: float | None  # right / left
    trend: Trend | None
    differs: bool


class ValueDiff(TypedDict):
    """A dispatch-level value (inputs or result) on both sides."""

    changed: bool | None
    left_repr: str | None
    left_json: str | None
    right_repr: str | None
    right_json: str | None


class Totals(TypedDict):
    """How many pairs differ, and how."""

    paired: int
    only_left: int
    only_right: int
    status_changed: int
    output_changed: int
    slower: int
    faster: int


class Comparison(TypedDict):
    """What :func:`compare` answers."""

    same_graph: bool
    inputs: ValueDiff
    result: ValueDiff
    duration_delta_s: float | None
    duration_ratio: float | None
    trend: Trend | None
    nodes: list[NodePair]
    totals: Totals


@dataclass(frozen=True)
class Side:
    """One dispatch as :func:`compare` reads it: its row (``inputs_*``, ``result_*``,
    ``start_time``, ``end_time``) and its nodes' rows (``node_id``, ``name``, ``kind``,
    ``status``, times, ``output_*``, ``error``)."""

    dispatch: Mapping[str, Any]
    nodes: Sequence[Mapping[str, Any]]


def duration(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end``; None unless both are known."""
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def trend(first: float | None, second: float | None) -> Trend | None:
    """Whether ``second`` is meaningfully slower or faster than ``first`` (see the
    module docstring); None when either is unknown."""
    if first is None or second is None:
        return None
    margin = max(SLOWER_ABS_S, SLOWER_REL * first)
    if second - first > margin:
        return "slower"
    if first - second > margin:
        return "faster"
    return "same"


def same_value(
    a_blob: str | None,
    a_repr: str | None,
    a_json: str | None,
    b_blob: str | None,
    b_repr: str | None,
    b_json: str | None,
) -> bool | None:
    """Whether two stored values are the same (None when neither side has one)."""
    if a_blob is None and b_blob is None and a_repr is None and b_repr is None:
        return None
    if a_json is not None and b_json is not None:
        return bool(json.loads(a_json) == json.loads(b_json))
    if a_blob is not None and b_blob is not None and a_blob == b_blob:
        return True
    if (a_blob is None) != (b_blob is None):
        return False
    return a_repr == b_repr


def _value_diff(left: Mapping[str, Any], right: Mapping[str, Any], prefix: str) -> ValueDiff:
    same = same_value(
        left.get(f"{prefix}_blob"),
        left.get(f"{prefix}_repr"),
        left.get(f"{prefix}_json"),
        right.get(f"{prefix}_blob"),
        right.get(f"{prefix}_repr"),
        right.get(f"{prefix}_json"),
    )
    return {
        "changed": None if same is None else not same,
        "left_repr": left.get(f"{prefix}_repr"),
        "left_json": left.get(f"{prefix}_json"),
        "right_repr": right.get(f"{prefix}_repr"),
        "right_json": right.get(f"{prefix}_json"),
    }


def _pairing_name(n: Mapping[str, Any]) -> str:
    # a parameter's name holds its value (":parameter:3"): a changed input is the same
    # parameter with another value, not another node
    return PARAMETER if n["kind"] == "parameter" else str(n["name"])


def _keyed(nodes: Sequence[Mapping[str, Any]]) -> dict[tuple[str, int], Mapping[str, Any]]:
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], Mapping[str, Any]] = {}
    for n in sorted(nodes, key=_id):
        name = _pairing_name(n)
        k = seen.get(name, 0)
        seen[name] = k + 1
        out[(name, k)] = n
    return out


def _side(n: Mapping[str, Any] | None) -> NodeSide | None:
    if n is None:
        return None
    return {
        "node_id": int(n["node_id"]),
        "kind": str(n["kind"]),
        "status": str(n["status"]),
        "start_time": n.get("start_time"),
        "end_time": n.get("end_time"),
        "duration_s": duration(n.get("start_time"), n.get("end_time")),
        "output_repr": n.get("output_repr"),
        "output_json": n.get("output_json"),
        "error": n.get("error"),
    }


def _pair(
    key: tuple[str, int], a: Mapping[str, Any] | None, b: Mapping[str, Any] | None
) -> NodePair:
    left, right = _side(a), _side(b)
    kind = (left or right or {"kind": ""})["kind"]
    name = str((a or b or {"name": key[0]})["name"])
    if a is None or b is None or left is None or right is None:
        return {
            "name": name,
            "occurrence": key[1],
            "kind": kind,
            "left": left,
            "right": right,
            "status_changed": True,
            "output_changed": None,
            "duration_delta_s": None,
            "duration_ratio": None,
            "trend": None,
            "differs": True,
        }
    same = same_value(
        a.get("output_blob"),
        a.get("output_repr"),
        a.get("output_json"),
        b.get("output_blob"),
        b.get("output_repr"),
        b.get("output_json"),
    )
    d1, d2 = left["duration_s"], right["duration_s"]
    # parameters are values, not work: their "durations" mean nothing
    t = None if kind == "parameter" else trend(d1, d2)
    status_changed = left["status"] != right["status"]
    output_changed = None if same is None else not same
    return {
        "name": name,
        "occurrence": key[1],
        "kind": kind,
        "left": left,
        "right": right,
        "status_changed": status_changed,
        "output_changed": output_changed,
        "duration_delta_s": None if t is None or d1 is None or d2 is None else d2 - d1,
        "duration_ratio": None if t is None or not d1 or d2 is None else d2 / d1,
        "trend": t,
        "differs": status_changed or bool(output_changed) or t in ("slower", "faster"),
    }


def compare(left: Side, right: Side) -> Comparison:
    """Compare two dispatches (see the module docstring for pairing and sameness)."""
    a, b = _keyed(left.nodes), _keyed(right.nodes)
    keys = list(a) + [k for k in b if k not in a]
    # left's build order first, then what only the right has, in its own order
    pairs = [_pair(k, a.get(k), b.get(k)) for k in keys]
    d1 = duration(left.dispatch.get("start_time"), left.dispatch.get("end_time"))
    d2 = duration(right.dispatch.get("start_time"), right.dispatch.get("end_time"))
    t = trend(d1, d2)
    same_graph = [(_pairing_name(n), n["kind"]) for n in sorted(left.nodes, key=_id)] == [
        (_pairing_name(n), n["kind"]) for n in sorted(right.nodes, key=_id)
    ]
    totals: Totals = {
        "paired": sum(1 for p in pairs if p["left"] and p["right"]),
        "only_left": sum(1 for p in pairs if p["right"] is None),
        "only_right": sum(1 for p in pairs if p["left"] is None),
        "status_changed": sum(1 for p in pairs if p["left"] and p["right"] and p["status_changed"]),
        "output_changed": sum(1 for p in pairs if p["output_changed"]),
        "slower": sum(1 for p in pairs if p["trend"] == "slower"),
        "faster": sum(1 for p in pairs if p["trend"] == "faster"),
    }
    return {
        "same_graph": same_graph,
        "inputs": _value_diff(left.dispatch, right.dispatch, "inputs"),
        "result": _value_diff(left.dispatch, right.dispatch, "result"),
        "duration_delta_s": None if d1 is None or d2 is None else d2 - d1,
        "duration_ratio": None if not d1 or d2 is None else d2 / d1,
        "trend": t,
        "nodes": pairs,
        "totals": totals,
    }


def _id(n: Mapping[str, Any]) -> int:
    return int(n["node_id"])
