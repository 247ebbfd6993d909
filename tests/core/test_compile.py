"""The compiler is pure: these tests build graphs by hand and never start Ray."""

from __future__ import annotations

from covalent_ray.core.compile import Stage, compile_plan
from covalent_ray.core.graph import EdgeKind, ExecutorSpec, Node, NodeKind, TransportGraph


def _default(node: Node) -> str | None:
    return node.executor.key if node.executor else None


def test_parameters_are_constants_and_binding_is_kept() -> None:
    g = TransportGraph()
    f = g.add_node("f", NodeKind.ELECTRON, function="fn")
    p1 = g.add_node(":parameter:1", NodeKind.PARAMETER, value="v1")
    p2 = g.add_node(":parameter:2", NodeKind.PARAMETER, value="v2")
    g.add_edge(p1.id, f.id, EdgeKind.ARG, index=0)
    g.add_edge(p2.id, f.id, EdgeKind.KWARG, name="y")
    plan = compile_plan("d", g, [f.id], _default)
    assert set(plan.tasks) == {f.id}
    spec = plan.tasks[f.id]
    assert spec.inputs == (p1.id, p2.id)
    assert spec.constants == (True, True)
    assert spec.args == (0,)
    assert spec.kwargs == (("y", 1),)
    assert plan.stages == [Stage(None, (f.id,))]
    assert plan.sinks == [f.id] and plan.final_inputs == [f.id]


def test_same_parent_twice_is_one_input() -> None:
    g = TransportGraph()
    a = g.add_node("a", NodeKind.ELECTRON)
    b = g.add_node("b", NodeKind.ELECTRON)
    g.add_edge(a.id, b.id, EdgeKind.ARG, index=1)
    g.add_edge(a.id, b.id, EdgeKind.ARG, index=0)
    g.add_edge(a.id, b.id, EdgeKind.KWARG, name="z")
    spec = compile_plan("d", g, [b.id], _default).tasks[b.id]
    assert spec.inputs == (a.id,)
    assert spec.args == (0, 0) and spec.kwargs == (("z", 0),)


def test_wait_edges_are_inputs_but_not_arguments() -> None:
    g = TransportGraph()
    a = g.add_node("a", NodeKind.ELECTRON)
    b = g.add_node("b", NodeKind.ELECTRON)
    g.add_edge(a.id, b.id, EdgeKind.WAIT)
    plan = compile_plan("d", g, [b.id], _default)
    assert plan.tasks[b.id].inputs == (a.id,)
    assert plan.tasks[b.id].args == () and plan.tasks[b.id].kwargs == ()
    assert plan.sinks == [b.id]


def test_final_step_waits_on_sinks_and_outputs() -> None:
    g = TransportGraph()
    a = g.add_node("a", NodeKind.ELECTRON)
    b = g.add_node("b", NodeKind.ELECTRON)
    c = g.add_node("c", NodeKind.ELECTRON)
    g.add_edge(a.id, b.id, EdgeKind.ARG, index=0)
    plan = compile_plan("d", g, [a.id], _default)
    assert plan.sinks == [b.id, c.id] or plan.sinks == [c.id, b.id]
    assert set(plan.final_inputs) == {a.id, b.id, c.id}


def test_mixed_executors_are_cut_into_segments() -> None:
    """default -> adaptor -> default needs two Dask batches around the adaptor stage."""
    g = TransportGraph()
    d1 = g.add_node("d1", NodeKind.ELECTRON)
    x = g.add_node("x", NodeKind.ELECTRON, executor=ExecutorSpec("local"))
    d2 = g.add_node("d2", NodeKind.ELECTRON)
    free = g.add_node("free", NodeKind.ELECTRON)
    g.add_edge(d1.id, x.id, EdgeKind.ARG, index=0)
    g.add_edge(x.id, d2.id, EdgeKind.ARG, index=0)
    plan = compile_plan("d", g, [d2.id], _default)
    assert plan.stages == [
        Stage(None, (d1.id, free.id)),
        Stage("local", (x.id,)),
        Stage(None, (d2.id,)),
    ]
    # every input of every stage is produced by an earlier stage or the same batch
    seen: set[int] = set()
    for stage in plan.stages:
        for n in stage.nodes:
            for inp in plan.tasks[n].inputs:
                assert inp in seen or (stage.executor_key is None and inp in stage.nodes)
        seen.update(stage.nodes)


def test_consecutive_nodes_of_one_adaptor_share_a_stage() -> None:
    g = TransportGraph()
    x1 = g.add_node("x1", NodeKind.ELECTRON, executor=ExecutorSpec("local"))
    x2 = g.add_node("x2", NodeKind.ELECTRON, executor=ExecutorSpec("local"))
    g.add_edge(x1.id, x2.id, EdgeKind.ARG, index=0)
    assert compile_plan("d", g, [x2.id], _default).stages == [Stage("local", (x1.id, x2.id))]


def test_reused_nodes_become_constants() -> None:
    g = TransportGraph()
    a = g.add_node("a", NodeKind.ELECTRON)
    b = g.add_node("b", NodeKind.ELECTRON)
    g.add_edge(a.id, b.id, EdgeKind.ARG, index=0)
    plan = compile_plan("d", g, [b.id], _default, reuse=[a.id])
    assert set(plan.tasks) == {b.id}
    assert plan.tasks[b.id].constants == (True,)
    assert plan.stages == [Stage(None, (b.id,))]


def test_auxiliary_nodes_run_on_the_default_executor() -> None:
    g = TransportGraph()
    x = g.add_node("x", NodeKind.ELECTRON, executor=ExecutorSpec("local"))
    item = g.add_node("x[0]", NodeKind.GETITEM)
    g.add_edge(x.id, item.id, EdgeKind.ARG, index=0)
    plan = compile_plan("d", g, [item.id], _default)
    assert plan.tasks[item.id].executor_key is None
    assert plan.stages == [Stage("local", (x.id,)), Stage(None, (item.id,))]
