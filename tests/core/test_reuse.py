from __future__ import annotations

from covalent_ray.core.graph import EdgeKind, NodeKind, TransportGraph
from covalent_ray.core.reuse import reusable_nodes


def _chain(fn_b: str = "fb", value: str = "v1") -> TransportGraph:
    """p -> a -> b, plus c independent of a."""
    g = TransportGraph()
    g.add_node(":parameter:1", NodeKind.PARAMETER, value=value)
    g.add_node("a", NodeKind.ELECTRON, function="fa")
    g.add_node("b", NodeKind.ELECTRON, function=fn_b)
    g.add_node("c", NodeKind.ELECTRON, function="fc")
    g.add_edge(0, 1, EdgeKind.ARG, index=0)
    g.add_edge(1, 2, EdgeKind.ARG, index=0)
    return g


DONE = {i: {"status": "COMPLETED", "output_blob": f"out{i}"} for i in range(1, 4)}


def test_unchanged_graph_reuses_every_completed_electron() -> None:
    assert reusable_nodes(_chain(), DONE, _chain()) == {1: "out1", 2: "out2", 3: "out3"}


def test_replaced_function_runs_again_with_its_dependants() -> None:
    assert reusable_nodes(_chain(), DONE, _chain(fn_b="new")) == {1: "out1", 3: "out3"}


def test_new_input_value_reruns_everything_downstream() -> None:
    assert reusable_nodes(_chain(), DONE, _chain(value="v2")) == {3: "out3"}


def test_failed_or_unfinished_nodes_are_not_reused() -> None:
    states = {
        1: {"status": "FAILED"},
        2: {"status": "NEW_OBJECT"},
        3: {"status": "COMPLETED", "output_blob": "out3"},
    }
    assert reusable_nodes(_chain(), states, _chain()) == {3: "out3"}
