"""Reads and writes of dispatches, electrons and edges; every function takes a connection.

Bulk writes go through Arrow tables registered on the connection: DuckDB applies a
thousand-row update from Arrow in milliseconds, against about a second for the same rows
through ``executemany``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .._status import TERMINAL, Status
from ..core.messages import SORT_KEYS, AttemptRow, ChildRow, DispatchRow, EdgeRow, NodeRow
from .schema import migrate

DISPATCH_COLUMNS = [
    "dispatch_id",
    "root_dispatch_id",
    "parent_dispatch_id",
    "parent_node_id",
    "name",
    "status",
    "created_at",
    "start_time",
    "end_time",
    "error",
    "num_nodes",
    "inputs_blob",
    "inputs_repr",
    "inputs_json",
    "result_blob",
    "result_repr",
    "result_json",
    "lattice_blob",
    "lattice_source",
    "lattice_doc",
    "manifest_blob",
    "executor",
    "workflow_executor",
    "blob_keys",
    "triggered_by",
    "trigger_id",
]

NODE_STATE_COLUMNS = [
    "status",
    "start_time",
    "end_time",
    "output_blob",
    "output_repr",
    "output_json",
    "error",
    "stdout",
    "stderr",
    "ray_node_id",
    "worker_pid",
    "attempt",
    "sub_dispatch_id",
    "reused_from",
    "job_handle",
    "remote_host",
]
ATTEMPT_COLUMNS = [
    "dispatch_id",
    "node_id",
    "attempt",
    "status",
    "start_time",
    "end_time",
    "error",
    "ray_node_id",
    "worker_pid",
]
NODE_COLUMNS = ["dispatch_id", "node_id", "name", "kind", "executor"] + NODE_STATE_COLUMNS
EDGE_COLUMNS = ["dispatch_id", "parent_node_id", "child_node_id", "kind", "arg_index", "param_name"]

_TYPES = {
    "dispatch_id": pa.string(),
    "node_id": pa.int32(),
    "name": pa.string(),
    "kind": pa.string(),
    "executor": pa.string(),
    "status": pa.string(),
    "start_time": pa.timestamp("us"),
    "end_time": pa.timestamp("us"),
    "output_blob": pa.string(),
    "output_repr": pa.string(),
    "output_json": pa.string(),
    "error": pa.string(),
    "stdout": pa.string(),
    "stderr": pa.string(),
    "ray_node_id": pa.string(),
    "worker_pid": pa.int32(),
    "attempt": pa.int32(),
    "sub_dispatch_id": pa.string(),
    "parent_node_id": pa.int32(),
    "child_node_id": pa.int32(),
    "arg_index": pa.int32(),
    "param_name": pa.string(),
    "reused_from": pa.string(),
    "job_handle": pa.string(),
    "remote_host": pa.string(),
    "key": pa.string(),
}


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the results database read-write and migrate it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    migrate(con)
    return con


def _table(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> pa.Table:
    schema = pa.schema([(c, _TYPES[c]) for c in columns])
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows], schema=schema)


SMALL = 32  # below this many rows a multi-row VALUES statement beats an Arrow scan


def _values(rows: Sequence[Mapping[str, Any]], columns: list[str]) -> tuple[str, list[Any]]:
    """A multi-row ``VALUES`` list of ``rows`` and its parameters."""
    row_marks = "(" + ", ".join("?" * len(columns)) + ")"
    return ", ".join([row_marks] * len(rows)), [r.get(c) for r in rows for c in columns]


def _insert(con: Any, table: str, rows: Sequence[Mapping[str, Any]], columns: list[str]) -> None:
    if not rows:
        return
    if len(rows) < SMALL or any(c not in _TYPES for c in columns):
        for i in range(0, len(rows), SMALL):
            values, params = _values(rows[i : i + SMALL], columns)
            con.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", params)
        return
    con.register("_rows", _table(rows, columns))
    try:
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM _rows"
        )
    finally:
        con.unregister("_rows")


Registration = tuple[dict[str, Any], Sequence[dict[str, Any]], Sequence[dict[str, Any]]]


def insert_dispatch(
    con: Any,
    dispatch: dict[str, Any],
    nodes: Sequence[dict[str, Any]],
    edges: Sequence[dict[str, Any]],
) -> bool:
    """Insert a new dispatch with its electrons and edges; False if it already exists."""
    return bool(insert_dispatches(con, [(dispatch, nodes, edges)]))


def insert_dispatches(con: Any, registrations: Sequence[Registration]) -> list[str]:
    """Insert new dispatches (each a dispatch row with its electrons and edges) in a few
    statements whatever their number; return the IDs inserted (one that exists already
    is left as it is). Each statement costs about a millisecond in DuckDB, so a group
    commit of many registrations pays for three, not three per dispatch."""
    if not registrations:
        return []
    ids = list(dict.fromkeys(d["dispatch_id"] for d, _, _ in registrations))
    # a lookup plus a plain INSERT costs a third of INSERT OR IGNORE in DuckDB
    known = {
        row[0]
        for i in range(0, len(ids), 500)
        for row in con.execute(
            "SELECT dispatch_id FROM dispatches WHERE dispatch_id IN "
            f"({', '.join('?' * len(ids[i : i + 500]))})",
            ids[i : i + 500],
        ).fetchall()
    }
    new: dict[str, Registration] = {}
    for reg in registrations:
        dispatch_id = reg[0]["dispatch_id"]
        if dispatch_id not in known and dispatch_id not in new:
            new[dispatch_id] = reg
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for dispatch, _, _ in new.values():
        columns = tuple(c for c in DISPATCH_COLUMNS if c in dispatch)
        by_columns.setdefault(columns, []).append(dispatch)
    for columns, rows in by_columns.items():
        _insert(con, "dispatches", rows, list(columns))
    _insert(con, "electrons", [n for _, nodes, _ in new.values() for n in nodes], NODE_COLUMNS)
    _insert(con, "edges", [e for _, _, edges in new.values() for e in edges], EDGE_COLUMNS)
    return list(new)


def update_nodes(con: Any, dispatch_states: Sequence[dict[str, Any]]) -> None:
    """Overwrite the state columns of the given electrons (rows carry every state column
    plus ``dispatch_id`` and ``node_id``)."""
    if not dispatch_states:
        return
    if len(dispatch_states) < 8:
        sets = ", ".join(f"{c} = ?" for c in NODE_STATE_COLUMNS)
        for row in dispatch_states:
            con.execute(
                f"UPDATE electrons SET {sets} WHERE dispatch_id = ? AND node_id = ?",
                [row.get(c) for c in NODE_STATE_COLUMNS] + [row["dispatch_id"], row["node_id"]],
            )
        return
    columns = ["dispatch_id", "node_id"] + NODE_STATE_COLUMNS
    con.register("_upd", _table(dispatch_states, columns))
    try:
        sets = ", ".join(f"{c} = _upd.{c}" for c in NODE_STATE_COLUMNS)
        con.execute(
            f"UPDATE electrons SET {sets} FROM _upd "
            "WHERE electrons.dispatch_id = _upd.dispatch_id AND electrons.node_id = _upd.node_id"
        )
    finally:
        con.unregister("_upd")


def insert_attempts(con: Any, attempts: Sequence[Mapping[str, Any]]) -> None:
    """Record finished attempts of electrons (one row per try)."""
    _insert(con, "attempts", attempts, ATTEMPT_COLUMNS)


def get_attempts(con: Any, dispatch_id: str, node_id: int | None = None) -> list[AttemptRow]:
    """Attempts of a dispatch's electrons (of one electron if ``node_id`` is given)."""
    if node_id is None:
        return _rows(
            con.execute(
                "SELECT * FROM attempts WHERE dispatch_id = ? ORDER BY node_id, attempt",
                [dispatch_id],
            )
        )
    return _rows(
        con.execute(
            "SELECT * FROM attempts WHERE dispatch_id = ? AND node_id = ? ORDER BY attempt",
            [dispatch_id, node_id],
        )
    )


def update_dispatch(con: Any, dispatch_id: str, fields: dict[str, Any]) -> None:
    """Set the given columns of one dispatch."""
    if not fields:
        return
    unknown = set(fields) - set(DISPATCH_COLUMNS)
    if unknown:
        raise ValueError(f"unknown dispatch columns: {sorted(unknown)}")
    cols = list(fields)
    con.execute(
        f"UPDATE dispatches SET {', '.join(f'{c} = ?' for c in cols)} WHERE dispatch_id = ?",
        [fields[c] for c in cols] + [dispatch_id],
    )


def update_dispatches(con: Any, updates: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Apply ``(dispatch_id, columns)`` updates in order, in one statement per set of
    columns (a later update of the same dispatch wins)."""
    merged: dict[str, dict[str, Any]] = {}
    for dispatch_id, fields in updates:
        merged.setdefault(dispatch_id, {}).update(fields)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for dispatch_id, fields in merged.items():
        if fields:
            by_columns.setdefault(tuple(sorted(fields)), []).append(
                {"dispatch_id": dispatch_id, **fields}
            )
    for columns, rows in by_columns.items():
        if len(rows) == 1:
            update_dispatch(con, rows[0]["dispatch_id"], {c: rows[0][c] for c in columns})
            continue
        unknown = set(columns) - set(DISPATCH_COLUMNS)
        if unknown:
            raise ValueError(f"unknown dispatch columns: {sorted(unknown)}")
        names = ["dispatch_id", *columns]
        for i in range(0, len(rows), SMALL):
            values, params = _values(rows[i : i + SMALL], names)
            con.execute(
                f"UPDATE dispatches SET {', '.join(f'{c} = v.{c}' for c in columns)} "
                f"FROM (VALUES {values}) AS v({', '.join(names)}) "
                "WHERE dispatches.dispatch_id = v.dispatch_id",
                params,
            )


def _rows(cursor: Any) -> list[Any]:
    """The rows of a query as dicts; a ``status`` column is read back as ``Status``."""
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    if "status" in names:
        for r in rows:
            if r["status"] is not None:
                r["status"] = Status(r["status"])
    return rows


#: the terminal statuses as SQL values (``_status.TERMINAL``)
TERMINAL_VALUES = sorted(s.value for s in TERMINAL)


def get_dispatch(con: Any, dispatch_id: str) -> DispatchRow | None:
    """One dispatch row, or None."""
    rows = _rows(con.execute("SELECT * FROM dispatches WHERE dispatch_id = ?", [dispatch_id]))
    return rows[0] if rows else None


def get_nodes(con: Any, dispatch_id: str, node_ids: Iterable[int] | None = None) -> list[NodeRow]:
    """Electron rows of a dispatch, by node id."""
    if node_ids is None:
        return _rows(
            con.execute(
                "SELECT * FROM electrons WHERE dispatch_id = ? ORDER BY node_id", [dispatch_id]
            )
        )
    return _rows(
        con.execute(
            "SELECT * FROM electrons WHERE dispatch_id = ? AND node_id IN "
            "(SELECT unnest(?::INTEGER[])) ORDER BY node_id",
            [dispatch_id, list(node_ids)],
        )
    )


def get_edges(con: Any, dispatch_id: str) -> list[EdgeRow]:
    """Edge rows of a dispatch."""
    return _rows(
        con.execute(
            "SELECT * FROM edges WHERE dispatch_id = ? "
            "ORDER BY child_node_id, arg_index NULLS LAST",
            [dispatch_id],
        )
    )


_SORTABLE = set(SORT_KEYS)


def list_dispatches(
    con: Any,
    *,
    status: Sequence[str] | None = None,
    name: str | None = None,
    root_only: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    executor: str | None = None,
    sort: str = "created_at",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DispatchRow], int]:
    """A page of dispatch summaries and the total count matching the filters: created
    in ``[since, until)``; with ``executor``, dispatches whose lattice or any electron
    runs on that executor (its short name, e.g. ``local``, ``ray``, ``slurm``)."""
    if sort not in _SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {sorted(_SORTABLE)}")
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status IN (SELECT unnest(?::VARCHAR[]))")
        params.append([str(s) for s in status])
    if name:
        where.append("name ILIKE ?")
        params.append(f"%{name}%")
    if root_only:
        where.append("parent_dispatch_id IS NULL")
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("created_at < ?")
        params.append(until)
    if executor:
        where.append(
            "(executor = ? OR dispatch_id IN "
            "(SELECT dispatch_id FROM electrons WHERE executor = ?))"
        )
        params.extend([executor, executor])
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    total = con.execute(f"SELECT count(*) FROM dispatches {clause}", params).fetchall()[0][0]
    order = "DESC" if descending else "ASC"
    rows = _rows(
        con.execute(
            f"""SELECT dispatch_id, root_dispatch_id, parent_dispatch_id, name, status, created_at,
                   start_time, end_time, error, num_nodes
            FROM dispatches {clause}
            ORDER BY {sort} {order} NULLS LAST, dispatch_id LIMIT ? OFFSET ?""",
            params + [limit, offset],
        )
    )
    return rows, int(total)


def node_status_counts(con: Any, dispatch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """For each dispatch, how many of its nodes are in each status (parameters excluded)."""
    out: dict[str, dict[str, int]] = {d: {} for d in dispatch_ids}
    if not dispatch_ids:
        return out
    for did, status, n in con.execute(
        "SELECT dispatch_id, status, count(*) FROM electrons WHERE kind <> 'parameter' AND "
        "dispatch_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
        [list(dispatch_ids)],
    ).fetchall():
        out[did][status] = int(n)
    return out


def count_by_status(con: Any) -> dict[str, int]:
    """How many dispatches are in each status."""
    return {
        s: int(n)
        for s, n in con.execute(
            "SELECT status, count(*) FROM dispatches GROUP BY status ORDER BY status"
        ).fetchall()
    }


def unfinished_dispatches(con: Any) -> list[DispatchRow]:
    """Dispatches not in a terminal status (candidates for recovery), oldest first."""
    return _rows(
        con.execute(
            "SELECT dispatch_id, parent_dispatch_id, status FROM dispatches WHERE status NOT IN "
            "(SELECT unnest(?::VARCHAR[])) ORDER BY created_at",
            [TERMINAL_VALUES],
        )
    )


def children(con: Any, dispatch_id: str) -> list[ChildRow]:
    """Child dispatches (sublattices) of a dispatch."""
    return _rows(
        con.execute(
            "SELECT dispatch_id, name, status, parent_node_id FROM dispatches "
            "WHERE parent_dispatch_id = ? ORDER BY created_at",
            [dispatch_id],
        )
    )


def family(con: Any, dispatch_ids: Sequence[str]) -> list[str]:
    """The given dispatches and, recursively, their child dispatches (sublattices)."""
    found = _rows(
        con.execute(
            """WITH RECURSIVE tree(id) AS (
               SELECT dispatch_id FROM dispatches
                WHERE dispatch_id IN (SELECT unnest(?::VARCHAR[]))
               UNION
               SELECT d.dispatch_id FROM dispatches d JOIN tree ON d.parent_dispatch_id = tree.id)
           SELECT id FROM tree""",
            [list(dispatch_ids)],
        )
    )
    return [r["id"] for r in found]


def delete_dispatches(con: Any, dispatch_ids: Sequence[str]) -> None:
    """Remove dispatches with their electrons, edges, attempts, triggers and blob links."""
    ids = [list(dispatch_ids)]
    for table in ("electrons", "edges", "attempts", "triggers", "dispatches"):
        con.execute(f"DELETE FROM {table} WHERE dispatch_id IN (SELECT unnest(?::VARCHAR[]))", ids)


def insert_trigger(con: Any, row: Mapping[str, Any]) -> bool:
    """Store a registered trigger (``core.triggers.trigger_row``); False if its ID exists."""
    if con.execute("SELECT 1 FROM triggers WHERE trigger_id = ?", [row["trigger_id"]]).fetchall():
        return False
    cols = list(row)
    con.execute(
        f"INSERT INTO triggers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        [row[c] for c in cols],
    )
    return True


def stop_triggers(con: Any, dispatch_ids: Sequence[str], when: datetime) -> list[str]:
    """Mark the active triggers of these dispatches stopped; returns their IDs."""
    ids = [
        r[0]
        for r in con.execute(
            "SELECT trigger_id FROM triggers WHERE state = 'active' AND "
            "dispatch_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY created_at",
            [list(dispatch_ids)],
        ).fetchall()
    ]
    if ids:
        con.execute(
            "UPDATE triggers SET state = 'stopped', stopped_at = ? "
            "WHERE trigger_id IN (SELECT unnest(?::VARCHAR[]))",
            [when, ids],
        )
    return ids


def trigger_fired(con: Any, trigger_id: str, when: datetime, error: str | None) -> None:
    """Count one firing of a trigger (with the error it met, or None)."""
    con.execute(
        "UPDATE triggers SET firings = firings + 1, last_fired_at = ?, error = ? "
        "WHERE trigger_id = ?",
        [when, error, trigger_id],
    )


def list_triggers(
    con: Any, *, state: str | None = None, dispatch_id: str | None = None, data: bool = False
) -> list[dict[str, Any]]:
    """Registered triggers, oldest first; ``data`` includes the cloudpickled trigger."""
    cols = "trigger_id, dispatch_id, kind, settings, state, created_at, stopped_at, "
    cols += "firings, last_fired_at, error" + (", trigger_data" if data else "")
    where, params = [], []
    if state is not None:
        where.append("state = ?")
        params.append(state)
    if dispatch_id is not None:
        where.append("dispatch_id = ?")
        params.append(dispatch_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cursor = con.execute(f"SELECT {cols} FROM triggers {clause} ORDER BY created_at", params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def trigger_lineage(con: Any, dispatch_id: str, limit: int = 20) -> dict[str, Any] | None:
    """A dispatch's triggers, the dispatch whose trigger started it (if one did), and the
    latest ``limit`` runs its own triggers started (with how many in all); None when the
    dispatch is unknown."""
    found = con.execute(
        "SELECT triggered_by, trigger_id FROM dispatches WHERE dispatch_id = ?", [dispatch_id]
    ).fetchall()
    if not found:
        return None
    runs = _rows(
        con.execute(
            "SELECT dispatch_id, status, created_at, trigger_id FROM dispatches "
            "WHERE triggered_by = ? ORDER BY created_at DESC LIMIT ?",
            [dispatch_id, limit],
        )
    )
    total = con.execute(
        "SELECT count(*) FROM dispatches WHERE triggered_by = ?", [dispatch_id]
    ).fetchall()[0][0]
    return {
        "triggered_by": found[0][0],
        "trigger_id": found[0][1],
        "triggers": list_triggers(con, dispatch_id=dispatch_id),
        "runs": runs,
        "runs_total": int(total),
    }


#: the blob keys some row still uses (``BlobStore.delete_unreferenced`` keeps these)
REFERENCED_BLOBS = """
    SELECT unnest(blob_keys) FROM dispatches
    UNION SELECT output_blob FROM electrons WHERE output_blob IS NOT NULL
    UNION SELECT result_blob FROM dispatches WHERE result_blob IS NOT NULL
    UNION SELECT inputs_blob FROM dispatches WHERE inputs_blob IS NOT NULL
    UNION SELECT key FROM kept_blobs
"""


def now() -> datetime:
    """The current UTC time as a naive timestamp (the schema's convention)."""
    return datetime.utcnow()
