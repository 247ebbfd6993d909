"""Cost of the SQL sandbox against querying the database directly, same data, same run.

No service needed: a scratch results database is written through the repository
functions (as the result manager writes it), then

    python benchmarks/sql_sandbox.py [--dispatches 2000] [--electrons 20] [--repeat 20]

prints, for the sandbox (``storage.sql.SqlService``) and for a plain DuckDB cursor on the
database (the baseline, which user queries must never get):

- the first copy of the views into a fresh worker (rows per second);
- the refresh before each query when nothing changed, and when one running dispatch did;
- query latency for a point lookup, an aggregate over every electron and the README's
  best-five query, each with its ratio to the baseline;
- rows per second for a large answer.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from covalent_ray.storage import repository as repo
from covalent_ray.storage.sql import VIEWS, SqlService


def build(path: Path, dispatches: int, electrons: int) -> Any:
    """A results database with ``dispatches`` finished sweep runs of ``electrons`` each."""
    con = repo.connect(path)
    now = repo.now()
    con.execute("BEGIN TRANSACTION")
    for d in range(dispatches):
        did = f"d{d:06d}"
        nodes, edges = [], []
        for n in range(electrons):
            score = (d * 7919 + n * 104729) % 1000 / 1000
            nodes.append(
                {
                    "dispatch_id": did,
                    "node_id": 2 * n,
                    "name": "train",
                    "kind": "electron",
                    "executor": "dask",
                    "status": "COMPLETED",
                    "start_time": now,
                    "end_time": now,
                    "attempt": 1,
                    "output_json": f'{{"score": {score}, "epochs": {n}}}',
                    "output_repr": f"{{'score': {score}, 'epochs': {n}}}",
                    "ray_node_id": "node-a",
                    "worker_pid": 1000 + n,
                }
            )
            nodes.append(
                {
                    "dispatch_id": did,
                    "node_id": 2 * n + 1,
                    "name": f":parameter:{n / 100}",
                    "kind": "parameter",
                    "status": "COMPLETED",
                    "attempt": 0,
                    "output_json": str(n / 100),
                    "output_repr": str(n / 100),
                }
            )
            edges.append(
                {
                    "dispatch_id": did,
                    "parent_node_id": 2 * n + 1,
                    "child_node_id": 2 * n,
                    "kind": "arg",
                    "arg_index": 0,
                    "param_name": "lr",
                }
            )
        repo.insert_dispatch(
            con,
            {
                "dispatch_id": did,
                "root_dispatch_id": did,
                "name": "sweep",
                "status": "COMPLETED",
                "created_at": now,
                "start_time": now,
                "end_time": now,
                "num_nodes": 2 * electrons,
                "inputs_json": f'{{"args": [{d}], "kwargs": {{}}}}',
                "inputs_repr": f"({d},)",
            },
            nodes,
            edges,
        )
    con.execute("COMMIT")
    return con


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


QUERIES = {
    "point lookup": "SELECT status, duration_s FROM dispatches WHERE dispatch_id = 'd000042'",
    "aggregate": "SELECT name, count(*), avg(duration_s) FROM electrons "
    "WHERE kind = 'electron' GROUP BY name",
    "best five": "SELECT dispatch_id, (inputs->>'$.lr')::DOUBLE AS lr, "
    "(output->>'$.score')::DOUBLE AS score FROM electrons "
    "WHERE name = 'train' ORDER BY score DESC LIMIT 5",
}


def main() -> None:
    """Build, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dispatches", type=int, default=2000)
    parser.add_argument("--electrons", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="covalent-ray-bench-sql-"))
    started = time.perf_counter()
    con = build(directory / "results.duckdb", args.dispatches, args.electrons)
    rows = {
        name: con.execute(f"SELECT count(*) FROM ({view.select(False)})").fetchall()[0][0]
        for name, view in VIEWS.items()
    }
    print(
        f"database: {args.dispatches} dispatches, {rows['electrons']} nodes, "
        f"{sum(rows.values())} view rows (built in {time.perf_counter() - started:.1f} s)"
    )

    service = SqlService(lambda: con.cursor(), root=directory / "sql-sandbox")
    started = time.perf_counter()
    service.query("SELECT 1")
    first = time.perf_counter() - started
    print(
        f"first query (worker start + full copy): {first:.2f} s, "
        f"{sum(rows.values()) / first:,.0f} view rows/s"
    )

    idle = timed(lambda: service.query("SELECT 1"), args.repeat)
    baseline_idle = timed(lambda: con.cursor().execute("SELECT 1").fetchall(), args.repeat)
    print(
        f"trivial query, nothing changed: {idle * 1000:.1f} ms "
        f"(direct DuckDB {baseline_idle * 1000:.2f} ms)"
    )

    # one dispatch running: looked at before every query, copied again when it changed
    repo.update_dispatch(con, "d000001", {"status": "RUNNING", "end_time": None})
    service.query("SELECT 1")
    unchanged = timed(lambda: service.query("SELECT 1"), args.repeat)
    attempt = iter(range(2, 10**6))

    def changed() -> None:
        repo.update_nodes(
            con,
            [
                {
                    "dispatch_id": "d000001",
                    "node_id": 0,
                    **{c: None for c in repo.NODE_STATE_COLUMNS},
                    "status": "RUNNING",
                    "attempt": next(attempt),
                }
            ],
        )
        service.query("SELECT 1")

    moved = timed(changed, args.repeat)
    print(
        f"trivial query, one running dispatch ({2 * args.electrons} nodes): "
        f"{unchanged * 1000:.1f} ms unchanged, {moved * 1000:.1f} ms when it changed "
        "(copied again)"
    )
    repo.update_dispatch(con, "d000001", {"status": "COMPLETED", "end_time": repo.now()})
    service.query("SELECT 1")

    print(f"{'query':<14}{'sandbox':>12}{'direct':>12}{'ratio':>8}")
    for label, text in QUERIES.items():
        sandboxed = timed(lambda text=text: service.query(text), args.repeat)

        def direct(text: str = text) -> None:
            # the same query over the views computed from the base tables, as CTEs
            body = re.sub(r"\b(" + "|".join(VIEWS) + r")\b", r"v_\1", text)
            ctes = ", ".join(f"v_{name} AS ({view.select(False)})" for name, view in VIEWS.items())
            con.cursor().execute(f"WITH {ctes} {body}").fetchall()

        baseline = timed(direct, args.repeat)
        print(
            f"{label:<14}{sandboxed * 1000:>10.1f}ms{baseline * 1000:>10.1f}ms"
            f"{sandboxed / baseline:>8.2f}"
        )

    big = min(rows["electrons"], 200_000)
    started = time.perf_counter()
    answer = service.query(f"SELECT * FROM electrons LIMIT {big}", max_rows=big)
    took = time.perf_counter() - started
    print(
        f"large answer: {answer['row_count']:,} electron rows ({len(answer['arrow']) / 2**20:.1f}"
        f" MiB Arrow, truncated={answer['truncated']}) in {took:.2f} s, "
        f"{answer['row_count'] / took:,.0f} rows/s"
    )
    service.close()
    con.close()
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
