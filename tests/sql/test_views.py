"""The result views after real dispatches, and the README's queries over them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.storage.sql import VIEWS, schema_markdown

from . import workflows as wf
from .conftest import README, readme_queries

pytestmark = pytest.mark.usefixtures("service")


def _one(query: str, *params: Any) -> dict[str, Any]:
    rows = ct.sql(query, list(params))
    assert len(rows) == 1, rows
    return rows[0]


def test_dispatch_row_matches_the_result(runs: dict[str, Any]) -> None:
    dispatch_id = runs["mixed"]
    row = _one("SELECT * FROM dispatches WHERE dispatch_id = ?", dispatch_id)
    result = ct.get_result(dispatch_id)
    assert row["name"] == "mixed" and row["status"] == "COMPLETED"
    assert row["root_dispatch_id"] == dispatch_id
    assert row["parent_dispatch_id"] is None and row["parent_node_id"] is None
    assert row["executor"] == "dask" and row["workflow_executor"] == "dask"
    assert row["start_time"] == result.start_time and row["end_time"] == result.end_time
    assert row["duration_s"] == pytest.approx((result.end_time - result.start_time).total_seconds())
    assert isinstance(row["created_at"], datetime)
    assert row["num_nodes"] == 8 and row["error"] is None
    assert row["inputs"] == {"args": [2], "kwargs": {"tag": "x"}}
    # the result holds an object without a JSON form: its readable string, as JSON
    assert (
        row["result"] == row["result_repr"] == "{'listed': [6, 4, 5, 'five'], 'opaque': Opaque(7)}"
    )


def test_electron_rows(runs: dict[str, Any]) -> None:
    dispatch_id = runs["mixed"]
    rows = {
        r["name"]: r
        for r in ct.sql(
            "SELECT * FROM electrons WHERE dispatch_id = ? AND kind = 'electron'", [dispatch_id]
        )
    }
    assert set(rows) == {"scale", "wrap"}
    result = ct.get_result(dispatch_id)
    scale = rows["scale"]
    node = result.get_node_result(scale["node_id"])
    assert scale["status"] == "COMPLETED" and scale["executor"] == "dask"
    assert scale["root_dispatch_id"] == dispatch_id and scale["sub_dispatch_id"] is None
    assert scale["start_time"] == node["start_time"] and scale["end_time"] == node["end_time"]
    assert scale["duration_s"] >= 0
    assert scale["ray_node_id"] and len(scale["ray_node_id"]) > 20
    assert scale["worker_pid"] > 0 and scale["attempt"] == 1
    assert scale["stdout"] == "scaling 2\n" and scale["error"] is None
    # positional arguments by parameter name, *args as a list, keyword arguments by key
    assert scale["inputs"] == {"x": 2, "factor": 3, "rest": [4, 5], "label": "five"}
    assert scale["output"] == [6, 4, 5, "five"]
    # an argument that is another electron's output; an output without a JSON form
    wrap = rows["wrap"]
    assert wrap["inputs"] == {"values": [6, 4, 5, "five"], "tag": "x"}
    assert wrap["output"] == "Opaque(7)" == wrap["output_repr"]

    parameters = ct.sql(
        "SELECT output, inputs FROM electrons WHERE dispatch_id = ? "
        "AND kind = 'parameter' ORDER BY node_id",
        [dispatch_id],
    )
    assert [p["output"] for p in parameters] == [2, 3, 4, 5, "five", "x"]
    assert all(p["inputs"] == {} for p in parameters)


def test_edges_and_electron_inputs(runs: dict[str, Any]) -> None:
    dispatch_id = runs["mixed"]
    edges = ct.sql(
        "SELECT parent_node_id, child_node_id, kind, arg_index, param_name "
        "FROM edges WHERE dispatch_id = ? ORDER BY child_node_id, parent_node_id",
        [dispatch_id],
    )
    stored = ct.get_result(dispatch_id).edges
    scale_edges = [e for e in edges if e["child_node_id"] == 0]
    assert [(e["kind"], e["arg_index"], e["param_name"]) for e in scale_edges] == [
        ("arg", 0, "x"),
        ("arg", 1, "factor"),
        ("arg", 2, "rest"),
        ("arg", 3, "rest"),
        ("kwarg", None, "label"),
    ]
    key = ("parent_node_id", "child_node_id", "kind", "arg_index", "param_name")
    assert {tuple(e[k] for k in key) for e in edges} == {tuple(e[k] for k in key) for e in stored}
    assert len(edges) == 7
    inputs = ct.sql(
        "SELECT name, position, kind, value, value_repr FROM electron_inputs "
        "WHERE dispatch_id = ? AND node_id = 6 ORDER BY kind",
        [dispatch_id],
    )
    assert [(i["name"], i["position"], i["kind"], i["value"]) for i in inputs] == [
        ("values", 0, "arg", [6, 4, 5, "five"]),
        ("tag", None, "kwarg", "x"),
    ]


def test_failure_rows(runs: dict[str, Any]) -> None:
    dispatch_id = runs["failing"]
    row = _one("SELECT status, error, result FROM dispatches WHERE dispatch_id = ?", dispatch_id)
    assert row["status"] == "FAILED" and "explode" in row["error"]
    assert row["result"] is None
    rows = ct.sql(
        "SELECT name, status, error, inputs, output FROM electrons "
        "WHERE dispatch_id = ? AND kind = 'electron' ORDER BY node_id",
        [dispatch_id],
    )
    by_status = {(r["name"], r["status"]) for r in rows}
    assert by_status == {("after", "COMPLETED"), ("explode", "FAILED"), ("after", "NEW_OBJECT")}
    failed = next(r for r in rows if r["status"] == "FAILED")
    assert "ValueError: cannot handle 9" in failed["error"] and failed["output"] is None
    # the electron that never ran: its input (the failed output) is null
    never = next(r for r in rows if r["status"] == "NEW_OBJECT")
    assert never["inputs"] == {"x": None}
    attempts = ct.sql(
        "SELECT a.attempt, a.status, a.error FROM attempts a JOIN electrons e "
        "USING (dispatch_id, node_id) WHERE a.dispatch_id = ? "
        "AND e.name = 'explode'",
        [dispatch_id],
    )
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "FAILED")]
    assert "cannot handle 9" in attempts[0]["error"]


def test_sublattice_rows(runs: dict[str, Any]) -> None:
    parent_id = runs["parent"]
    rows = ct.sql(
        "SELECT dispatch_id, name, parent_dispatch_id, parent_node_id, "
        "root_dispatch_id, result FROM dispatches WHERE root_dispatch_id = ? "
        "ORDER BY parent_dispatch_id NULLS FIRST",
        [parent_id],
    )
    assert [r["name"] for r in rows] == ["parent", "child"]
    top, sub = rows
    assert top["dispatch_id"] == parent_id and top["result"] == 12
    assert sub["parent_dispatch_id"] == parent_id and sub["parent_node_id"] == 0
    assert sub["result"] == 6
    node = _one(
        "SELECT kind, sub_dispatch_id, inputs, output FROM electrons "
        "WHERE dispatch_id = ? AND node_id = 0",
        parent_id,
    )
    assert node["kind"] == "sublattice" and node["sub_dispatch_id"] == sub["dispatch_id"]
    assert node["inputs"] == {"x": 5} and node["output"] == 6
    child = _one(
        "SELECT name, root_dispatch_id FROM electrons WHERE dispatch_id = ? AND kind = 'electron'",
        sub["dispatch_id"],
    )
    assert child == {"name": "add_one", "root_dispatch_id": parent_id}


def test_readme_documents_every_column() -> None:
    text = README.read_text()
    assert schema_markdown() in text
    for view in VIEWS.values():
        assert f"**`{view.name}`**" in text


def test_readme_best_five_of_the_sweep(runs: dict[str, Any]) -> None:
    best_five = readme_queries()[0]
    rows = ct.sql(best_five)
    scores = [wf.expected_score(*p) for p in wf.GRID]
    assert len(set(scores)) == len(scores)  # one right answer
    expected = sorted(wf.GRID, key=lambda p: -wf.expected_score(*p))[:5]
    assert [(r["lr"], r["depth"]) for r in rows] == expected
    assert [r["score"] for r in rows] == [wf.expected_score(*p) for p in expected]
    sweep = runs["sweep"]
    assert [r["dispatch_id"] for r in rows] == [sweep[p] for p in expected]
    assert all(r["duration_s"] >= 0 for r in rows)


def test_readme_slowest_electrons(runs: dict[str, Any]) -> None:
    slowest = readme_queries()[1]
    rows = ct.sql(slowest)
    means = [r["mean_s"] for r in rows]
    assert means == sorted(means, reverse=True) and 0 < len(rows) <= 10
    # checked against the same aggregate computed by pandas over the whole view
    frame = ct.sql(
        "SELECT name, duration_s FROM electrons WHERE kind = 'electron' AND status = 'COMPLETED'",
        max_rows=1_000_000,
    ).df()
    stats = frame.groupby("name")["duration_s"].agg(["count", "mean"])
    for r in rows:
        assert r["runs"] == stats.loc[r["name"], "count"]
        assert r["mean_s"] == pytest.approx(stats.loc[r["name"], "mean"], abs=1e-3)
    slow_mean = stats.loc["slow_step", "mean"]
    assert slow_mean >= 0.4
    assert ("slow_step" in [r["name"] for r in rows]) == (slow_mean >= means[-1])


def test_readme_what_failed_and_why(runs: dict[str, Any]) -> None:
    failures = readme_queries()[2]
    rows = ct.sql(failures)
    mine = [r for r in rows if r["dispatch_id"] == runs["failing"]]
    assert len(mine) == 1
    assert mine[0]["electron"] == "explode" and mine[0]["lattice"] == "failing"
    assert mine[0]["reason"] == "ValueError: cannot handle 9"
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)


def test_new_results_are_visible_to_the_next_query(service: object) -> None:
    before = _one("SELECT count(*) AS n FROM dispatches WHERE name = 'lr_depth_sweep'")["n"]
    # a poor point, so that the README's best five stay those of the grid
    result = ct.dispatch_sync(wf.lr_depth_sweep)(0.2, 9)
    row = _one(
        "SELECT status, (result->>'$.score')::DOUBLE AS score FROM dispatches "
        "WHERE dispatch_id = ?",
        result.dispatch_id,
    )
    assert row == {"status": "COMPLETED", "score": wf.expected_score(0.2, 9)}
    after = _one("SELECT count(*) AS n FROM dispatches WHERE name = 'lr_depth_sweep'")["n"]
    assert after == before + 1
