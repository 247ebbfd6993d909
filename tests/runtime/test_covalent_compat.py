"""Covalent behaviours a script relies on, on the session's service (issue 10)."""

from __future__ import annotations

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.usefixtures("service")


@ct.electron
def double(x):
    return 2 * x


@ct.electron(executor="no_such_executor")
def stranded(x):
    return x


def test_unknown_executor_creates_the_dispatch_which_fails_naming_it() -> None:
    """Covalent: ct.dispatch returns an ID; the electron fails with the executor named."""

    @ct.lattice
    def wf(x):
        return double(stranded(x)), double(x)

    dispatch_id = ct.dispatch(wf)(3)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.FAILED
    nodes = {n["node_name"]: n for n in result.get_all_node_results()}
    (bad,) = [n for n in result.get_all_node_results() if n["node_name"] == "stranded"]
    assert bad["status"] == ct.status.FAILED
    assert "'no_such_executor'" in bad["error"] and "available executors" in bad["error"]
    assert "local" in bad["error"] and "ct.executor.available()" in bad["error"]
    assert "no_such_executor" in bad["stderr"]
    assert "stranded" in result.error
    doubles = [n for n in result.get_all_node_results() if n["node_name"] == "double"]
    statuses = sorted(n["status"].value for n in doubles)
    assert statuses == ["COMPLETED", "NEW_OBJECT"]  # the independent branch ran
    assert nodes["double"]["node_name"] == "double"


@pytest.mark.parametrize("executor", ["dask", "local", "ray"])
def test_failed_electrons_traceback_is_in_its_stderr(executor: str) -> None:
    @ct.electron(executor=executor)
    def fails(x):
        import sys

        print("about to fail", file=sys.stderr)
        raise ValueError(f"bad value {x}")

    @ct.lattice
    def wf(x):
        return fails(x)

    result = ct.dispatch_sync(wf)(7)
    assert result.status == ct.status.FAILED
    node = result.get_node_result(0)
    assert "ValueError: bad value 7" in node["error"]
    assert node["stderr"].startswith("about to fail")
    assert "Traceback (most recent call last)" in node["stderr"]
    assert "ValueError: bad value 7" in node["stderr"]


def test_inputs_and_outputs_have_covalents_shapes() -> None:
    @ct.lattice
    def wf(a, /, b, *args, c, **kwargs):
        return double(a)

    result = ct.dispatch_sync(wf)(1, 2, 3, c=4, d=5)
    inputs = result.inputs
    assert isinstance(inputs, ct.TransportableObject)
    assert inputs.get_deserialized() == {"args": (1, 2, 3), "kwargs": {"c": 4, "d": 5}}
    assert inputs["args"] == (1, 2, 3)
    assert result.result == 2  # plain value, as in Covalent
    assert isinstance(result.encoded_result, ct.TransportableObject)
    assert result.encoded_result.get_deserialized() == 2
    outputs = result.get_all_node_outputs()
    assert list(outputs) == ["double(0)", ":parameter:1(1)"]
    assert all(isinstance(o, ct.TransportableObject) for o in outputs.values())
    assert outputs["double(0)"].get_deserialized() == 2
    assert result.get_node_result(0)["output"].get_deserialized() == 2


def test_outputs_of_nodes_that_did_not_run_are_none() -> None:
    @ct.electron
    def boom(x):
        raise RuntimeError("no")

    @ct.lattice
    def wf(x):
        return double(boom(x))

    result = ct.dispatch_sync(wf)(1)
    outputs = result.get_all_node_outputs()
    assert outputs["boom(0)"] is None and outputs["double(2)"] is None
    assert outputs[":parameter:1(1)"].get_deserialized() == 1


@ct.electron
def shout(text):
    print(f"Hello from {text}")
    return text.upper()


@ct.electron
def sub_identity(x):
    return x


@ct.lattice
def sub_flow(x):
    return sub_identity(x)


def test_get_result_status_only_and_covalents_other_keywords() -> None:
    @ct.lattice
    def wf(x):
        return shout(x), ct.electron(sub_flow)(x)

    dispatch_id = ct.dispatch(wf)("task")
    done = ct.get_result(dispatch_id, wait=True, status_only=True)
    assert done == {"id": dispatch_id, "status": "COMPLETED"}
    full = ct.get_result(dispatch_id, wait=False, dispatcher_addr=None, results_dir="/tmp")
    assert full.result == ["TASK", "task"]  # a tuple built in the body: a list
    bare = ct.get_result(dispatch_id, workflow_output=False, intermediate_outputs=False)
    assert bare.result is None and bare.status == ct.status.COMPLETED
    assert bare.get_node_result(0)["output"] is None
    no_subs = ct.get_result(dispatch_id, sublattice_results=False)
    (sub,) = [n for n in no_subs.get_all_node_results() if n["kind"] == "sublattice"]
    assert sub["sub_dispatch_id"] and sub["sublattice_result"] is None
    with_subs = ct.get_result(dispatch_id)
    (sub,) = [n for n in with_subs.get_all_node_results() if n["kind"] == "sublattice"]
    assert sub["sublattice_result"].result == "task"


def test_dispatched_lattice_has_covalents_transport_graph_with_states() -> None:
    @ct.electron(executor="local", call_before=ct.DepsCall(print, ["prepared"]))
    def fails(x):
        raise RuntimeError(f"cannot {x}")

    @ct.lattice
    def wf(x):
        return shout(x), fails(x)

    result = ct.dispatch_sync(wf)("Task 0")
    tg = result.lattice.transport_graph
    assert tg._graph.number_of_nodes() == result.num_nodes == 4  # a parameter node per call
    assert tg.get_node_value(0, "status") == ct.status.COMPLETED
    assert tg.get_node_value(0, "stdout") == "Hello from Task 0\n"
    assert tg.get_node_value(0, "output").get_deserialized() == "TASK 0"
    assert tg.get_node_value(2, "status") == ct.status.FAILED
    assert "RuntimeError: cannot Task 0" in tg.get_node_value(2, "stderr")
    assert "cannot Task 0" in tg.get_node_value(2, "error")
    assert tg.get_dependencies(2) == [3]
    assert result.lattice.inputs.get_deserialized() == {"args": ("Task 0",), "kwargs": {}}
    meta = tg.get_node_value(2, "metadata")
    assert meta["executor"] == "local"
    assert meta["hooks"]["call_before"][0]["attributes"]["apply_args"] == ["prepared"]
    assert result.get_node_result(2)["metadata"] == meta
    assert result.get_node_result(0)["metadata"]["executor"] == "dask"


def test_draw_sends_the_graph_to_the_dashboard(service: object) -> None:
    import json
    import urllib.request

    @ct.lattice
    def wf(x):
        return shout(sub_identity(x))

    url = wf.draw("x")
    base = service.api_url.rstrip("/")  # type: ignore[attr-defined]
    assert url.startswith(f"{base}/#/preview/")
    preview_id = url.rsplit("/", 1)[1]
    from covalent_ray.client.connect import api_headers

    request = urllib.request.Request(f"{base}/api/v1/previews/{preview_id}", headers=api_headers())
    with urllib.request.urlopen(request, timeout=30) as answer:
        preview = json.loads(answer.read())
    assert preview["name"] == "wf"
    names = [n["name"] for n in preview["graph"]["nodes"]]
    assert names == ["sub_identity", ":parameter:x", "shout"]
    edges = [(e["source"], e["target"]) for e in preview["graph"]["edges"]]
    assert edges == [(1, 0), (0, 2)]
    assert wf.transport_graph.get_node_value(2, "name") == "shout"


def test_deps_bash_and_deps_pip_run_in_call_before_in_their_place(tmp_path) -> None:
    """Covalent: DepsBash / DepsPip listed in call_before run there, in order."""
    marker = tmp_path / "marker.txt"

    @ct.electron(
        call_before=[
            ct.DepsPip(packages=["cloudpickle"]),  # satisfied: only looked up
            ct.DepsBash(commands=[f"echo from-bash > {marker}"]),
        ],
        call_after=[ct.DepsCall(marker.unlink)],
    )
    def reads_marker():
        return marker.read_text().strip()

    @ct.lattice
    def wf():
        return reads_marker()

    result = ct.dispatch_sync(wf)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "from-bash"
    assert not marker.exists()  # call_after ran after it


@ct.electron
def kinds_of(*items):
    return [type(i).__name__ for i in items], items


def test_containers_reach_electrons_and_results_as_in_covalent() -> None:
    """Covalent hands tuples and sets built in a lattice body to electrons as lists, and
    returns a tuple built there as a list; an electron's own tuple output stays a tuple."""

    @ct.lattice
    def wf(pair):
        seen, items = kinds_of(pair, (1, 2), {3}, [double(1), (4,)])
        return seen, items, double(2)

    result = ct.dispatch_sync(wf)((5, 6))
    assert result.status == ct.status.COMPLETED, result.error
    seen, items, doubled = result.result
    assert type(result.result) is list
    assert seen == ["list", "list", "list", "list"]
    assert items == ([5, 6], [1, 2], [3], [2, [4]])  # kinds_of's own tuple output is kept
    assert doubled == 4
    assert result.inputs["args"] == ((5, 6),)  # the dispatch's inputs are kept as given
