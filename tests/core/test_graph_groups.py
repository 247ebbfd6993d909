"""Aggregating large graphs for drawing (``core.graph_groups``), on plain rows."""

from __future__ import annotations

from typing import Any

from covalent_ray.core.graph_groups import group_graph, levels


def node(nid: int, name: str, status: str = "COMPLETED", kind: str = "electron") -> dict[str, Any]:
    return {"node_id": nid, "name": name, "kind": kind, "status": status}


def edge(p: int, c: int, param: str | None = "x", kind: str = "kwarg") -> dict[str, Any]:
    return {
        "parent_node_id": p,
        "child_node_id": c,
        "kind": kind,
        "arg_index": None,
        "param_name": param,
    }


def fan_out(width: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Like ``total([inc(i) for i in range(width)])``: a parameter and an ``inc`` per
    item, the list that collects them, and ``total``."""
    nodes, edges = [], []
    for i in range(width):
        p, e = 2 * i, 2 * i + 1
        nodes += [
            node(p, f":parameter:{i}", kind="parameter"),
            node(e, "inc", "RUNNING" if i == 0 else "COMPLETED"),
        ]
        edges.append(edge(p, e))
    collect, total = 2 * width, 2 * width + 1
    nodes += [
        node(collect, ":electron_list:", kind="electron_list"),
        node(total, "total", "NEW_OBJECT"),
    ]
    edges += [edge(2 * i + 1, collect, None, "arg") for i in range(width)]
    edges.append(edge(collect, total, "values"))
    return nodes, edges


def test_small_graphs_are_answered_as_they_are() -> None:
    nodes, edges = fan_out(3)
    out = group_graph(nodes, edges, threshold=100)
    assert out["grouped"] is False and out["groups"] == []
    assert out["nodes"] == nodes
    assert [(e["source"], e["target"], e["count"]) for e in out["edges"]] == [
        (e["parent_node_id"], e["child_node_id"], 1) for e in edges
    ]


def test_a_fan_out_becomes_a_group_of_its_electrons_and_one_of_their_parameters() -> None:
    nodes, edges = fan_out(50)
    out = group_graph(nodes, edges, threshold=20)
    assert out["grouped"] is True and out["total_nodes"] == 102
    assert [n["name"] for n in out["nodes"]] == [":electron_list:", "total"]
    params, incs = out["groups"]
    assert (params["id"], params["name"], params["kind"], params["size"]) == (
        0,
        "parameters",
        "parameter",
        50,
    )
    assert (incs["id"], incs["name"], incs["size"]) == (1, "inc", 50)
    assert incs["counts"] == {"RUNNING": 1, "COMPLETED": 49}
    assert incs["members"] == list(range(1, 100, 2))
    assert incs["statuses"][:2] == ["RUNNING", "COMPLETED"]
    # 50 + 50 + 1 edges become three, each counting what it stands for
    drawn = {
        (e["source"], e["target"]): (e["count"], e["param_name"], e["kind"]) for e in out["edges"]
    }
    assert drawn == {
        (0, 1): (50, "x", "kwarg"),
        (1, 100): (50, None, "arg"),
        (100, 101): (1, "values", "kwarg"),
    }


def test_the_same_function_at_two_depths_makes_two_groups() -> None:
    # a mesh: two layers of three `add`, each fed by two of the layer above
    nodes = [node(i, "add") for i in range(6)]
    edges = [edge(p, c) for c in (3, 4, 5) for p in (c - 3, (c - 2) % 3)]
    out = group_graph(nodes, edges, mode="all")
    assert [(g["id"], g["members"]) for g in out["groups"]] == [(0, [0, 1, 2]), (3, [3, 4, 5])]
    assert [(e["source"], e["target"], e["count"]) for e in out["edges"]] == [(0, 3, 6)]


def test_a_long_chain_of_one_function_folds_into_one_group() -> None:
    # every `step` has its own depth: by depth nothing repeats, so the depth is dropped
    nodes = [node(0, "start")] + [node(i, "step") for i in range(1, 30)]
    edges = [edge(i - 1, i) for i in range(1, 30)]
    out = group_graph(nodes, edges, threshold=10)
    assert [n["node_id"] for n in out["nodes"]] == [0]
    assert [(g["name"], g["size"]) for g in out["groups"]] == [("step", 29)]
    assert [(e["source"], e["target"]) for e in out["edges"]] == [(0, 1)]  # no self-loop


def test_an_expanded_group_is_drawn_as_its_nodes() -> None:
    nodes, edges = fan_out(30)
    out = group_graph(nodes, edges, threshold=20, expanded=[1])
    assert [g["id"] for g in out["groups"]] == [0]
    assert [n["node_id"] for n in out["nodes"]] == list(range(1, 60, 2)) + [60, 61]
    drawn = {(e["source"], e["target"]): e["count"] for e in out["edges"]}
    assert drawn[(0, 1)] == 1 and drawn[(0, 59)] == 1 and drawn[(1, 60)] == 1


def test_unique_nodes_stay_nodes_and_levels_are_longest_paths() -> None:
    nodes = [node(0, "a"), node(1, "b"), node(2, "c")]
    edges = [edge(0, 1), edge(0, 2), edge(1, 2)]
    assert levels([0, 1, 2], edges) == {0: 0, 1: 1, 2: 2}
    out = group_graph(nodes, edges, mode="all")
    assert out["groups"] == [] and len(out["nodes"]) == 3 and len(out["edges"]) == 3
