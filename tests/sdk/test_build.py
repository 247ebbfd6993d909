"""Building transport graphs from lattice bodies (no Ray involved)."""

from __future__ import annotations

import threading
from collections import namedtuple

import pytest

import covalent_ray as ct
from covalent_ray._exceptions import LatticeBuildError, SerializationError
from covalent_ray._serialize import loads
from covalent_ray.core.graph import EdgeKind, NodeKind
from covalent_ray.core.outcome import NodeRef


@ct.electron
def add(a, b=0):
    return a + b


@ct.electron
def split(s):
    return s[:1], s[1:]


@ct.electron
def everything(a, /, b, *args, c, **kw):
    return a + b + c, args, kw


def kinds(manifest):
    return [n.kind for n in manifest.graph.nodes]


def test_electron_and_lattice_called_directly_are_plain_python() -> None:
    @ct.lattice
    def wf(x):
        return add(x, 2) * 3

    assert add(1, 2) == 3
    assert wf(1) == 9


def test_plain_values_become_parameter_nodes() -> None:
    @ct.lattice
    def wf(x):
        return add(x, b=5)

    m = wf.manifest((1,), {})
    names = [n.name for n in m.graph.nodes]
    assert names == ["add", ":parameter:1", ":parameter:5"]
    edges = {(e.parent, e.child, e.kind, e.index, e.name) for e in m.graph.edges}
    assert edges == {(1, 0, EdgeKind.ARG, 0, "a"), (2, 0, EdgeKind.KWARG, None, "b")}
    assert loads(m.blobs[m.graph.nodes[2].value]) == 5
    assert m.graph.nodes[2].value_json == "5"
    assert m.output_nodes == [0]


def test_every_parameter_kind_is_bound() -> None:
    @ct.lattice
    def wf():
        return everything(1, 2, 3, 4, c=5, d=6, e=7)

    m = wf.manifest((), {})
    arg_edges = sorted((e.index, e.name) for e in m.graph.edges if e.kind is EdgeKind.ARG)
    kw_edges = sorted(e.name for e in m.graph.edges if e.kind is EdgeKind.KWARG)
    assert arg_edges == [(0, "a"), (1, "b"), (2, "args"), (3, "args")]
    assert kw_edges == ["c", "d", "e"]


def test_nested_collections_become_collection_nodes() -> None:
    @ct.electron
    def collect(x):
        return x

    @ct.lattice
    def wf():
        return collect([[add(i) for i in range(2)], {"k": add(9), 3: 3}, (add(1),), {add(2)}])

    m = wf.manifest((), {})
    ks = kinds(m)
    assert ks.count(NodeKind.LIST) == 2
    assert ks.count(NodeKind.DICT) == 1
    assert ks.count(NodeKind.TUPLE) == 1
    assert ks.count(NodeKind.SET) == 1
    d = next(n for n in m.graph.nodes if n.kind is NodeKind.DICT)
    assert loads(m.blobs[d.value]) == ["k", 3]


def test_plain_container_is_one_parameter() -> None:
    @ct.lattice
    def wf():
        return add([1, 2], [3])

    m = wf.manifest((), {})
    assert kinds(m) == [NodeKind.ELECTRON, NodeKind.PARAMETER, NodeKind.PARAMETER]


def test_getitem_getattr_operators_and_unpacking() -> None:
    @ct.lattice
    def wf(s):
        first, rest = split(s)
        key = add(0)
        return [first, rest.upper, add(1)[key], 2 - add(1), add(1) ** 2, -add(3)]

    m = wf.manifest(("hey",), {})
    ops = [
        (n.kind, n.op)
        for n in m.graph.nodes
        if n.kind in (NodeKind.GETITEM, NodeKind.GETATTR, NodeKind.OPERATOR)
    ]
    assert (NodeKind.GETATTR, "upper") in ops
    assert (NodeKind.OPERATOR, "sub") in ops and (NodeKind.OPERATOR, "pow") in ops
    assert (NodeKind.OPERATOR, "neg") in ops
    assert sum(1 for k, _ in ops if k is NodeKind.GETITEM) == 3  # two from unpacking
    sub = next(n for n in m.graph.nodes if n.op == "sub")
    parents = sorted(
        (e.index, m.graph.nodes[e.parent].kind) for e in m.graph.edges if e.child == sub.id
    )
    assert parents == [(0, NodeKind.PARAMETER), (1, NodeKind.ELECTRON)]  # 2 - x keeps order


def test_wait_adds_data_less_edges() -> None:
    @ct.lattice
    def wf():
        a = add(1)
        b = add(2)
        c = ct.wait(add(3), [a, b])
        return c

    m = wf.manifest((), {})
    waits = [(e.parent, e.child) for e in m.graph.edges if e.kind is EdgeKind.WAIT]
    assert sorted(waits) == [(0, 4), (2, 4)]


def test_wait_that_makes_a_cycle_is_refused() -> None:
    @ct.lattice
    def wf():
        a = add(1)
        b = add(a)
        ct.wait(a, [b])
        return b

    with pytest.raises(LatticeBuildError, match="cyclic"):
        wf.manifest((), {})


def test_return_template_keeps_structure() -> None:
    Pair = namedtuple("Pair", "x y")

    @ct.lattice
    def wf():
        return {"pair": Pair(add(1), 7), "list": [add(2)]}

    m = wf.manifest((), {})
    template = loads(m.blobs[m.output_template])
    assert template == {"pair": Pair(NodeRef(0), 7), "list": [NodeRef(2)]}
    assert m.output_nodes == [0, 2]


@pytest.mark.parametrize(
    "body, message",
    [
        (lambda: bool(add(1)), "condition"),
        (lambda: [x for x in add(1)], "iterate"),
        (lambda: len(add(1)), "len"),
    ],
)
def test_control_flow_on_outputs_is_a_clear_error(body, message) -> None:
    @ct.lattice
    def wf():
        return body()

    with pytest.raises(LatticeBuildError, match=message):
        wf.manifest((), {})


def test_lattice_body_error_names_the_lattice() -> None:
    @ct.lattice
    def broken(x):
        raise ValueError("no good")

    with pytest.raises(LatticeBuildError, match="broken.*ValueError: no good"):
        broken.manifest((1,), {})


def test_unpicklable_argument_names_electron_and_argument() -> None:
    @ct.lattice
    def wf():
        return add(threading.Lock())

    with pytest.raises(SerializationError, match="argument a of electron 'add'"):
        wf.manifest((), {})


def test_output_hidden_in_an_object_is_refused() -> None:
    class Box:
        def __init__(self, v):
            self.v = v

    @ct.lattice
    def wf():
        return add(Box(add(1)))

    with pytest.raises(SerializationError, match="nested inside an object"):
        wf.manifest((), {})


def test_lattice_executor_is_the_default_for_its_electrons() -> None:
    from covalent_ray.executors import RayExecutor

    @ct.electron(executor=RayExecutor(num_cpus=1))
    def own(x):
        return x

    @ct.lattice(executor="local")
    def wf():
        return own(add(1))

    m = wf.manifest((), {})
    execs = {
        n.name: (n.executor.short_name if n.executor else None)
        for n in m.graph.nodes
        if n.kind is NodeKind.ELECTRON
    }
    assert execs == {"add": "local", "own": "ray"}
    local = next(n for n in m.graph.nodes if n.name == "add")
    assert loads(m.blobs[local.executor.instance_blob]).workdir  # configured from defaults


def test_same_executor_settings_share_a_key() -> None:
    from covalent_ray.executors import LocalExecutor

    @ct.electron(executor=LocalExecutor(workdir="/tmp/a"))
    def one(x):
        return x

    @ct.electron(executor=LocalExecutor(workdir="/tmp/a"))
    def two(x):
        return x

    @ct.electron(executor=LocalExecutor(workdir="/tmp/b"))
    def three(x):
        return x

    @ct.lattice
    def wf():
        return one(1), two(2), three(3)

    m = wf.manifest((), {})
    keys = [n.executor.key for n in m.graph.nodes if n.kind is NodeKind.ELECTRON]
    assert keys[0] == keys[1] != keys[2]


def test_unknown_executor_fails_at_dispatch_naming_it() -> None:
    from covalent_ray._exceptions import UnknownExecutorError

    @ct.electron(executor="nonexistent")
    def where(x):
        return x

    @ct.lattice
    def wf():
        return where(1)

    with pytest.raises(UnknownExecutorError, match="electron 'where'.*nonexistent.*local"):
        wf.manifest((), {})


def test_sublattice_is_one_node() -> None:
    @ct.lattice
    def inner(x):
        return add(x, 1)

    @ct.lattice
    def outer(x):
        return ct.electron(inner)(x)

    m = outer.manifest((1,), {})
    assert m.graph.nodes[0].kind is NodeKind.SUBLATTICE
    assert m.graph.nodes[0].name == ":sublattice:inner"
