"""``ct.sql``, ``covalent-ray sql``, ``covalent-ray export`` and ``POST /api/v1/sql``
over the session's service."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import covalent_ray as ct
from covalent_ray._exceptions import QueryError, QueryRejectedError
from covalent_ray.cli.main import app as cli_app
from covalent_ray.storage.sql import VIEWS

pytestmark = pytest.mark.usefixtures("service")

COUNT_SWEEP = (
    "SELECT count(*) AS n, min(created_at) AS first FROM dispatches WHERE name = 'lr_depth_sweep'"
)


# -- SDK --------------------------------------------------------------------------------


def test_sql_returns_rows_with_dataframe_and_arrow(runs: dict[str, Any]) -> None:
    rows = ct.sql(
        "SELECT dispatch_id, (result->>'$.score')::DOUBLE AS score, end_time "
        "FROM dispatches WHERE name = 'lr_depth_sweep' ORDER BY score DESC"
    )
    assert isinstance(rows, list) and len(rows) >= len(runs["sweep"])
    assert set(rows[0]) == {"dispatch_id", "score", "end_time"}
    assert rows.columns == ["dispatch_id", "score", "end_time"]
    assert rows.types == ["VARCHAR", "DOUBLE", "TIMESTAMP"]
    assert rows.truncated is None and rows.elapsed_s >= 0
    frame = rows.df()
    assert list(frame.columns) == rows.columns and len(frame) == len(rows)
    assert frame["score"].is_monotonic_decreasing
    table = rows.arrow()
    assert table.num_rows == len(rows) and table.column_names == rows.columns


def test_sql_params_list_tuple_and_named(runs: dict[str, Any]) -> None:
    dispatch_id = runs["mixed"]
    by_list = ct.sql("SELECT name FROM dispatches WHERE dispatch_id = ?", [dispatch_id])
    by_tuple = ct.sql("SELECT name FROM dispatches WHERE dispatch_id = $1", (dispatch_id,))
    by_name = ct.sql("SELECT name FROM dispatches WHERE dispatch_id = $id", {"id": dispatch_id})
    assert by_list == by_tuple == by_name == [{"name": "mixed"}]


def test_empty_answer_keeps_its_columns() -> None:
    rows = ct.sql("SELECT dispatch_id, status FROM dispatches WHERE false")
    assert rows == [] and rows.columns == ["dispatch_id", "status"]
    assert list(rows.df().columns) == ["dispatch_id", "status"]


def test_truncation_warns() -> None:
    with pytest.warns(UserWarning, match="more than 5 rows"):
        rows = ct.sql("SELECT i FROM range(100) t(i)", max_rows=5)
    assert len(rows) == 5 and rows.truncated == "rows"


def test_errors_raise() -> None:
    with pytest.raises(QueryRejectedError, match="not a result view"):
        ct.sql("SELECT * FROM blobs")
    with pytest.raises(QueryError, match="nope") as info:
        ct.sql("SELECT nope FROM dispatches")
    assert not isinstance(info.value, QueryRejectedError)


# -- CLI --------------------------------------------------------------------------------

runner = CliRunner()


def cli(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli_app, list(args), input=input)


def test_cli_prints_a_table(runs: dict[str, Any]) -> None:
    result = cli(
        "sql",
        "SELECT name, status FROM dispatches WHERE dispatch_id = ?",
        "--params",
        json.dumps([runs["failing"]]),
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("name" in line and "status" in line for line in lines[:3])
    assert any("failing" in line and "FAILED" in line for line in lines)
    assert "1 row" in result.stdout


def test_cli_json_and_csv(runs: dict[str, Any]) -> None:
    query = (
        "SELECT e.name, e.inputs, e.start_time FROM electrons e "
        "WHERE dispatch_id = ? AND kind = 'electron' ORDER BY node_id"
    )
    params = json.dumps([runs["mixed"]])
    as_json = cli("sql", query, "--params", params, "--json")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["columns"] == ["name", "inputs", "start_time"]
    assert data["types"] == ["VARCHAR", "JSON", "TIMESTAMP"] and data["truncated"] is None
    assert [r["name"] for r in data["rows"]] == ["scale", "wrap"]
    # JSON columns come out as JSON, not as strings holding JSON
    assert data["rows"][0]["inputs"] == {"x": 2, "factor": 3, "rest": [4, 5], "label": "five"}

    as_csv = cli("sql", query, "--params", params, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert table[0] == ["name", "inputs", "start_time"]
    assert [row[0] for row in table[1:]] == ["scale", "wrap"]
    assert json.loads(table[2][1]) == {"values": [6, 4, 5, "five"], "tag": "x"}
    assert table[1][2].startswith("20")  # ISO 8601

    from_stdin = cli("sql", "-", "--json", input="SELECT 41 + 1 AS answer")
    assert json.loads(from_stdin.stdout)["rows"] == [{"answer": 42}]


def test_cli_schema_and_usage_errors() -> None:
    listed = cli("sql", "--schema", "--json")
    assert listed.exit_code == 0
    assert [v["name"] for v in json.loads(listed.stdout)] == list(VIEWS)
    assert "duration_s" in cli("sql", "--schema").stdout
    assert cli("sql").exit_code == 2
    assert cli("sql", "SELECT 1", "--json", "--csv").exit_code == 2
    assert cli("sql", "SELECT ?", "--params", "{not json").exit_code == 2


def test_cli_subprocess_json(service_home: Path) -> None:
    # the console script end to end, as a user runs it
    env = {**os.environ, "COVALENT_RAY_HOME": str(service_home)}
    done = subprocess.run(
        [sys.executable, "-m", "covalent_ray.cli.main", "sql", COUNT_SWEEP, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["rows"][0]
    assert row["n"] == ct.sql(COUNT_SWEEP)[0]["n"]


def test_export_is_readable_by_duckdb_and_pyarrow(tmp_path: Path, runs: dict[str, Any]) -> None:
    result = cli("export", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)
    assert list(written) == list(VIEWS)
    for name, view in VIEWS.items():
        path = Path(written[name]["path"])
        assert path == tmp_path / "out" / f"{name}.parquet"
        table = pq.read_table(path)
        assert table.column_names == [c.name for c in view.columns]
        assert table.num_rows == written[name]["rows"]
        live = ct.sql(f"SELECT count(*) AS n FROM {name}")[0]["n"]
        assert table.num_rows <= live  # later tests' dispatches may have landed since
    con = duckdb.connect()
    best = con.execute(
        "SELECT (e.inputs->>'$.lr')::DOUBLE, (e.inputs->>'$.depth')::INTEGER "
        f"FROM read_parquet('{tmp_path}/out/electrons.parquet') e "
        f"JOIN read_parquet('{tmp_path}/out/dispatches.parquet') d USING (dispatch_id) "
        "WHERE d.name = 'lr_depth_sweep' AND e.name = 'train' "
        "ORDER BY (e.output->>'$.score')::DOUBLE DESC LIMIT 1"
    ).fetchall()
    assert best == [(0.05, 4)]
    one = cli("export", str(tmp_path / "some"), "--view", "edges")
    assert one.exit_code == 0 and sorted(os.listdir(tmp_path / "some")) == ["edges.parquet"]
    bad = cli("export", str(tmp_path / "bad"), "--view", "blobs")
    assert bad.exit_code == 1 and "no view named 'blobs'" in bad.stderr


# -- REST -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rest_runs_a_query(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    r = await client.post(
        "/api/v1/sql",
        json={
            "query": "SELECT name, inputs, start_time, duration_s, 'NaN'::DOUBLE AS nan "
            "FROM electrons WHERE dispatch_id = ? AND kind = 'electron' "
            "ORDER BY node_id",
            "params": [runs["mixed"]],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["name", "inputs", "start_time", "duration_s", "nan"]
    assert body["types"] == ["VARCHAR", "JSON", "TIMESTAMP", "DOUBLE", "DOUBLE"]
    assert body["row_count"] == 2 and body["truncated"] is None
    first = body["rows"][0]
    assert first[0] == "scale"
    assert first[1] == {"x": 2, "factor": 3, "rest": [4, 5], "label": "five"}
    assert first[2].endswith("Z") and first[4] == "nan"


@pytest.mark.anyio
async def test_rest_bounds_and_schema(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/sql", json={"query": "SELECT i FROM range(50) t(i)", "max_rows": 7}
    )
    assert r.status_code == 200 and r.json()["row_count"] == 7
    assert r.json()["truncated"] == "rows"
    r = await client.post(
        "/api/v1/sql", json={"query": "SELECT count(*) FROM range(1000000000000)", "timeout": 1}
    )
    assert r.status_code == 400 and "interrupted after 1 s" in r.json()["detail"]
    for body in (
        {"query": ""},
        {"query": "SELECT 1", "max_rows": 0},
        {"query": "SELECT 1", "timeout": -1},
        {"query": "SELECT 1", "params": "x"},
        {"query": "SELECT 1", "other": 1},
    ):
        assert (await client.post("/api/v1/sql", json=body)).status_code == 422, body
    schema = (await client.get("/api/v1/sql/schema")).json()
    assert [v["name"] for v in schema] == list(VIEWS)
    assert schema[1]["columns"][0] == {
        "name": "dispatch_id",
        "type": "VARCHAR",
        "doc": VIEWS["electrons"].columns[0].doc,
    }


def test_sql_gives_json_columns_as_python_objects(runs: dict[str, Any]) -> None:
    rows = ct.sql(
        "SELECT inputs, output, output->'$[3]' AS fourth, output_repr FROM electrons "
        "WHERE dispatch_id = ? AND name = 'scale'",
        [runs["mixed"]],
    )
    [row] = rows
    # as the REST API gives them: JSON values, not strings holding JSON
    assert row["inputs"] == {"x": 2, "factor": 3, "rest": [4, 5], "label": "five"}
    assert row["output"] == [6, 4, 5, "five"] and row["fourth"] == "five"
    assert rows.types[:3] == ["JSON", "JSON", "JSON"] and isinstance(row["output_repr"], str)
    assert rows.df()["inputs"][0] == row["inputs"]
    assert rows.arrow().column("inputs")[0].as_py().startswith("{")  # Arrow keeps the text
