from __future__ import annotations

import pytest

from covalent_ray.core.graph import EdgeKind, NodeKind, TransportGraph, descendants


def _diamond() -> TransportGraph:
    g = TransportGraph()
    for name in "abcd":
        g.add_node(name, NodeKind.ELECTRON)
    g.add_edge(0, 1, EdgeKind.ARG, index=0)
    g.add_edge(0, 2, EdgeKind.ARG, index=0)
    g.add_edge(1, 3, EdgeKind.ARG, index=0)
    g.add_edge(2, 3, EdgeKind.ARG, index=1)
    return g


def test_parents_children_and_order() -> None:
    g = _diamond()
    assert g.parents() == {0: [], 1: [0], 2: [0], 3: [1, 2]}
    assert g.children() == {0: [1, 2], 1: [3], 2: [3], 3: []}
    order = g.topological_order()
    assert order.index(0) < order.index(1) < order.index(3)
    assert order.index(2) < order.index(3)


def test_order_follows_edges_not_ids() -> None:
    g = TransportGraph()
    g.add_node("late", NodeKind.ELECTRON)
    g.add_node("early", NodeKind.ELECTRON)
    g.add_edge(1, 0, EdgeKind.WAIT)
    assert g.topological_order() == [1, 0]


def test_cycle_is_rejected() -> None:
    g = TransportGraph()
    g.add_node("a", NodeKind.ELECTRON)
    g.add_node("b", NodeKind.ELECTRON)
    g.add_edge(0, 1, EdgeKind.ARG, index=0)
    g.add_edge(1, 0, EdgeKind.WAIT)
    with pytest.raises(ValueError, match="cycle"):
        g.topological_order()


def test_descendants() -> None:
    g = _diamond()
    assert descendants(g.children(), [1]) == {3}
    assert descendants(g.children(), [0]) == {1, 2, 3}
    assert descendants(g.children(), [3]) == set()
