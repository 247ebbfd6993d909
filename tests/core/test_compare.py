"""Comparing two dispatches as plain data: pairing, sameness of values, slower/faster."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from covalent_ray.core.compare import Side, compare, same_value, trend

T0 = datetime(2026, 1, 1, 12, 0, 0)


def _node(
    node_id: int,
    name: str,
    seconds: float | None,
    output: Any = None,
    status: str = "COMPLETED",
    kind: str = "electron",
) -> dict[str, Any]:
    text = None if output is None else repr(output)
    return {
        "node_id": node_id,
        "name": name,
        "kind": kind,
        "status": status,
        "start_time": T0,
        "end_time": None if seconds is None else T0 + timedelta(seconds=seconds),
        "output_blob": None if output is None else f"blob-{output!r}",
        "output_repr": text,
        "output_json": None if output is None else json.dumps(output),
        "error": None,
    }


def _dispatch(seconds: float, inputs: Any, result: Any) -> dict[str, Any]:
    return {
        "start_time": T0,
        "end_time": T0 + timedelta(seconds=seconds),
        "inputs_blob": f"in-{inputs!r}",
        "inputs_repr": repr(inputs),
        "inputs_json": json.dumps(inputs),
        "result_blob": f"out-{result!r}",
        "result_repr": repr(result),
        "result_json": json.dumps(result),
    }


def test_a_redispatch_pairs_node_with_node_and_names_what_changed() -> None:
    left = Side(
        _dispatch(10, {"args": [1]}, 6),
        [
            _node(0, ":parameter:1", None, 1, kind="parameter"),
            _node(1, "add", 1.0, 2),
            _node(2, "add", 1.0, 3),
            _node(3, "total", 2.0, 6),
        ],
    )
    right = Side(
        _dispatch(4, {"args": [1]}, 7),
        [
            _node(0, ":parameter:1", None, 1, kind="parameter"),
            _node(1, "add", 1.02, 2),
            _node(2, "add", 3.0, 4),
            _node(3, "total", 0.5, 7),
        ],
    )
    c = compare(left, right)
    assert c["same_graph"] is True
    assert c["inputs"]["changed"] is False and c["result"]["changed"] is True
    assert c["trend"] == "faster" and c["duration_delta_s"] == -6
    by = {(p["name"], p["occurrence"]): p for p in c["nodes"]}
    assert [p["left"]["node_id"] for p in c["nodes"]] == [0, 1, 2, 3]  # build order
    first, second, total = by[("add", 0)], by[("add", 1)], by[("total", 0)]
    assert (first["output_changed"], first["trend"], first["differs"]) == (False, "same", False)
    assert (second["output_changed"], second["trend"]) == (True, "slower")
    assert second["duration_ratio"] == 3.0 and second["duration_delta_s"] == 2.0
    assert (total["output_changed"], total["trend"]) == (True, "faster")
    assert by[(":parameter:1", 0)]["trend"] is None  # parameters take no time
    assert c["totals"] == {
        "paired": 4,
        "only_left": 0,
        "only_right": 0,
        "status_changed": 0,
        "output_changed": 2,
        "slower": 1,
        "faster": 1,
    }


def test_status_changes_and_nodes_on_one_side_only() -> None:
    left = Side(
        _dispatch(1, [1], None), [_node(0, "a", 1.0, status="FAILED"), _node(1, "b", 1.0, 5)]
    )
    right = Side(_dispatch(1, [2], 1), [_node(0, "a", 1.0, 1), _node(1, "c", 1.0, 5)])
    c = compare(left, right)
    assert c["same_graph"] is False and c["inputs"]["changed"] is True
    a, b, cc = c["nodes"]
    assert (a["name"], a["status_changed"], a["output_changed"]) == ("a", True, True)
    assert (b["name"], b["right"], b["differs"]) == ("b", None, True)
    assert (cc["name"], cc["left"], cc["differs"]) == ("c", None, True)
    assert c["totals"]["only_left"] == c["totals"]["only_right"] == 1
    assert c["totals"]["status_changed"] == 1


def test_sameness_of_values() -> None:
    # equal JSON is equal whatever the blobs (a re-pickled equal dict)
    assert same_value("x", "{'a': 1}", '{"a": 1}', "y", "{'a': 1}", '{"a":1}') is True
    # non-JSON values: the same blob is the same value; a different repr is different
    assert same_value("k", "<obj>", None, "k", "<obj>", None) is True
    assert same_value("k", "Point(1)", None, "m", "Point(2)", None) is False
    # one side has no output at all (it never ran)
    assert same_value("k", "1", "1", None, None, None) is False
    assert same_value(None, None, None, None, None, None) is None


def test_trend_ignores_noise() -> None:
    assert trend(0.01, 0.05) == "same"  # under the absolute margin
    assert trend(10.0, 12.0) == "same"  # under 25 %
    assert trend(10.0, 13.0) == "slower"
    assert trend(10.0, 7.0) == "faster"
    assert trend(None, 1.0) is None


def test_parameters_pair_in_order_whatever_their_values() -> None:
    left = Side(
        _dispatch(1, [1], 1),
        [_node(0, ":parameter:1", None, 1, kind="parameter"), _node(1, "f", 1.0, 1)],
    )
    right = Side(
        _dispatch(1, [2], 2),
        [_node(0, ":parameter:2", None, 2, kind="parameter"), _node(1, "f", 1.0, 2)],
    )
    c = compare(left, right)
    assert c["same_graph"] is True
    param, f = c["nodes"]
    assert (param["left"]["node_id"], param["right"]["node_id"]) == (0, 0)
    assert param["name"] == ":parameter:1" and param["output_changed"] is True
    assert c["totals"]["output_changed"] == 2 and c["totals"]["only_left"] == 0
