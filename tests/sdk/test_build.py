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
from covalent_ray.sdk.build import PlaceholderWarning


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


def test_a_plain_parameter_keeps_its_blob_key_whatever_the_pickler() -> None:
    # stored outputs are reused by blob key on redispatch: primitives pickled by the
    # plain pickler must hash exactly as cloudpickle's bytes of them did
    import cloudpickle

    from covalent_ray._serialize import blob_key, dumps

    for value in [5, -(2**70), 1.5, 2j, "text", b"bytes", True, None]:
        assert blob_key(dumps(value, "a value")) == blob_key(cloudpickle.dumps(value))

    @ct.lattice
    def wf(x):
        return add(x, b="five")

    m = wf.manifest((1.5,), {})
    assert {loads(m.blobs[n.value]) for n in m.graph.nodes[1:]} == {1.5, "five"}


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
    # as in Covalent, tuples and sets handed to an electron become lists
    assert ks.count(NodeKind.LIST) == 4
    assert ks.count(NodeKind.DICT) == 1
    assert ks.count(NodeKind.TUPLE) == ks.count(NodeKind.SET) == 0
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


def test_a_build_error_the_body_swallows_still_fails_the_build() -> None:
    """A body that catches ct.wait's cycle error and goes on gets our error anyway, before
    anything reaches the service (no dispatch is created, no raw Ray traceback)."""

    @ct.lattice
    def wf():
        a = add(1)
        b = add(a)
        try:
            ct.wait(a, [b])
        except Exception:
            pass
        return b

    with pytest.raises(LatticeBuildError, match="cyclic.*caught this error"):
        wf.manifest((), {})


def test_return_template_has_covalents_shapes() -> None:
    Pair = namedtuple("Pair", "x y")

    @ct.lattice
    def wf():
        return {"pair": Pair(add(1), 7), "list": [add(2)], ("k", 1): (3, {4})}

    m = wf.manifest((), {})
    template = loads(m.blobs[m.output_template])
    # Covalent returns tuples, sets and namedtuples built in the body as lists
    assert template == {"pair": [NodeRef(0), 7], "list": [NodeRef(2)], ("k", 1): [3, [4]]}
    assert type(template["pair"]) is list
    assert m.output_nodes == [0, 2]


def test_containers_handed_to_an_electron_have_covalents_shapes() -> None:
    from collections import OrderedDict

    from covalent_ray.sdk.build import covalent_shape

    Pair = namedtuple("Pair", "x y")

    @ct.electron
    def take(a, b=None):
        return a

    @ct.lattice
    def wf():
        return take((1, (2, 3)), b=OrderedDict(p=Pair(4, {5})))

    m = wf.manifest((), {})
    params = [loads(m.blobs[n.value]) for n in m.graph.nodes if n.kind is NodeKind.PARAMETER]
    assert params == [[1, [2, 3]], {"p": [4, [5]]}]
    assert type(params[1]) is dict
    plain = [1, [2, {"x": 3}]]
    assert covalent_shape(plain) is plain  # nothing to change: not copied
    assert covalent_shape("text") == "text" and covalent_shape({(1, 2): 3}) == {(1, 2): 3}


@pytest.mark.parametrize(
    "convert, placeholder",
    [
        (int, 0),
        (float, 0.0),
        (complex, 0j),
        (bool, True),
        (list, []),
        (dict, {}),
        (lambda out: [x for x in out], []),
    ],
)
def test_conversions_of_outputs_give_covalents_placeholders(convert, placeholder) -> None:
    """A Covalent lattice body that converts an output builds (with a warning), seeing the
    placeholder Covalent gives; the graph holds only the electron's node."""
    seen = []

    @ct.lattice
    def wf():
        out = add(1)
        seen.append(convert(out))
        return out

    with pytest.warns(PlaceholderWarning, match="Covalent's placeholder"):
        m = wf.manifest((), {})
    assert seen == [placeholder] and type(seen[0]) is type(placeholder)
    assert [n.name for n in m.graph.nodes if n.kind is NodeKind.ELECTRON] == ["add"]


def test_len_of_an_output_fails_the_build_as_in_covalent() -> None:
    @ct.lattice
    def wf():
        return len(add(1))

    with pytest.raises(LatticeBuildError, match="len"):
        wf.manifest((), {})


def test_keys_attribute_of_an_output_is_refused() -> None:
    @ct.lattice
    def wf():
        return add(1).keys

    with pytest.raises(LatticeBuildError, match="AttributeError: `keys`"):
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


def test_unknown_executor_still_builds_and_marks_the_electron() -> None:
    """Covalent creates the dispatch: only the electron with the unknown executor carries
    the error (it fails when it would run; see tests/runtime/test_dispatch.py)."""

    @ct.electron(executor="nonexistent")
    def where(x):
        return x

    @ct.lattice
    def wf():
        return add(where(1))

    m = wf.manifest((), {})
    electrons = {n.name: n for n in m.graph.nodes if n.kind is NodeKind.ELECTRON}
    error = electrons["where"].metadata["executor_error"]
    assert "electron 'where'" in error and "'nonexistent'" in error
    assert "local" in error and "ct.executor.available()" in error
    assert electrons["where"].metadata["executor_name"] == "nonexistent"
    assert "executor_error" not in electrons["add"].metadata


def test_unknown_lattice_executor_marks_every_electron_inheriting_it() -> None:
    @ct.electron(executor="local")
    def mine(x):
        return x

    @ct.lattice(executor="nonexistent")
    def wf():
        return add(mine(1))

    m = wf.manifest((), {})
    electrons = {n.name: n for n in m.graph.nodes if n.kind is NodeKind.ELECTRON}
    assert "nonexistent" in electrons["add"].metadata["executor_error"]
    assert "executor_error" not in electrons["mine"].metadata
    assert m.executor is None


@pytest.mark.parametrize("where", ["electron", "lattice"])
def test_call_before_and_after_take_a_single_depscall(where) -> None:
    """Covalent's ``call_before=ct.DepsCall(...)`` (not in a list) on electrons and lattices."""
    before, after = ct.DepsCall(print, ["before"]), ct.DepsCall(print, ["after"])
    hooks_kw = {"call_before": before, "call_after": after}
    if where == "electron":
        task = ct.electron(**hooks_kw)(add.function)
        wf = ct.lattice(lambda: task(1))
    else:
        wf = ct.lattice(**hooks_kw)(lambda: add(1))
    m = wf.manifest((), {})
    (node,) = [n for n in m.graph.nodes if n.kind is NodeKind.ELECTRON]
    hooks = loads(m.blobs[node.metadata["hooks"]])
    assert [d.apply_args for d in hooks["call_before"]] == [["before"]]
    assert [d.apply_args for d in hooks["call_after"]] == [["after"]]


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
