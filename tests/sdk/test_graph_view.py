"""Covalent's lattice.build_graph() / transport_graph and electron metadata (no Ray)."""

from __future__ import annotations

import pytest

import covalent_ray as ct
from covalent_ray._serialize import dumps, loads


def setup_db(path):
    return path


@ct.electron(
    executor="local",
    deps_bash=["echo ready"],
    deps_pip=ct.DepsPip(packages=["numpy"]),
    call_before=ct.DepsCall(setup_db, ["x.db"], retval_keyword="db"),
    retries=2,
)
def load(path, db=None):
    return path


@ct.electron
def join(a, b):
    return a + b


@ct.lattice
def pipeline(x, y):
    first = load(x)
    return join(first, y)


def test_build_graph_sets_transport_graph_and_inputs() -> None:
    pipeline.build_graph("a", y="b")
    tg = pipeline.transport_graph
    assert list(tg._graph.nodes) == list(range(4))  # load, :parameter:a, join, :parameter:b
    assert tg._graph.number_of_nodes() == len(tg) == 4
    assert tg.get_node_value(0, "name") == "load"
    assert tg.get_node_value(1, "name") == ":parameter:a"
    assert tg.get_node_value(1, "value").get_deserialized() == "a"
    assert tg.get_node_value(0, "function").get_deserialized()("p") == "p"
    assert "def load(" in tg.get_node_value(0, "function_string")  # Covalent's key
    with pytest.raises(KeyError):
        tg.get_node_value(1, "function_string")  # a parameter has no function
    assert tg.get_node_value(0, "status") == ct.status.NEW_OBJECT
    assert tg.get_dependencies(2) == [0, 3]
    assert tg.get_dependencies(0) == [1]
    assert tg.get_edge_data(0, 2) == {0: {"edge_name": "a", "param_type": "arg", "arg_index": 0}}
    assert pipeline.inputs.get_deserialized() == {"args": ("a",), "kwargs": {"y": "b"}}
    with pytest.raises(KeyError, match="no value 'colour'"):
        tg.get_node_value(0, "colour")


def test_built_graph_does_not_travel_with_the_lattice() -> None:
    pipeline.build_graph("a", "b")
    again = loads(dumps(pipeline, "lattice"))
    assert len(again.transport_graph) == 0 and again.inputs is None


def test_node_metadata_has_covalents_shape() -> None:
    pipeline.build_graph("a", "b")
    meta = pipeline.transport_graph.get_node_value(0, "metadata")
    assert meta["executor"] == "local"
    assert meta["executor_data"]["short_name"] == "local"
    assert meta["retries"] == 2
    bash = ct.DepsBash().from_dict(meta["hooks"]["deps"]["bash"])
    assert bash.commands == ["echo ready"]
    pip = ct.DepsPip().from_dict(meta["hooks"]["deps"]["pip"])
    assert pip.packages == ["numpy"]
    (before,) = meta["hooks"]["call_before"]
    call = ct.DepsCall().from_dict(before)
    assert call.retval_keyword == "db" and call.apply_args == ["x.db"]
    assert call.apply_fn("z") == "z"
    plain = pipeline.transport_graph.get_node_value(2, "metadata")
    assert plain["executor"] == "dask" and plain["hooks"] == {}


def test_electron_metadata_property() -> None:
    meta = load.metadata
    assert meta["executor"] == "local" and meta["retries"] == 2
    assert set(meta["hooks"]) == {"deps", "call_before"}
    assert load.electron_object.metadata == meta
    assert join.metadata == {"executor": "dask", "executor_data": {}, "hooks": {}}
    instance = ct.executor.LocalExecutor(workdir="/tmp/w")
    custom = ct.electron(executor=instance)(join.function)
    assert custom.metadata["executor"] == "local"
    assert custom.metadata["executor_data"]["attributes"]["workdir"] == "/tmp/w"
