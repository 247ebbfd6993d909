"""SQL over results: the stable relational views, and the sandbox user queries run in.

The views
---------
:data:`VIEWS` is the documented, stable relational face of the results database:
``dispatches``, ``electrons``, ``edges``, ``electron_inputs`` and ``attempts``. Each column is
declared once, with its type, its meaning and the expression that computes it from the base
tables (``storage/schema.py``), so the base tables can change without breaking a user's
query, and the README's column tables are generated from the same declarations (a test
keeps them equal). Values appear as JSON where they are made of JSON types and as their
readable ``repr`` (a JSON string) otherwise, so ``json_extract`` and ``->>`` reach inside
every input and output. Times are UTC ``TIMESTAMP``\\ s; durations are seconds.

The sandbox
-----------
A user query never runs on the result manager's database. DuckDB's safety switches are
per database instance (the result manager itself needs Arrow registrations, INSERT and
UPDATE for its writes), and its ``memory_limit`` does not cover everything a query can
allocate (``SELECT range(300000000)`` takes gigabytes regardless), so a query running
inside the result manager could read files, change settings or take the only writer of
the database down with it. Instead:

1. **A separate worker process** (started by the result manager on first use, restarted
   on demand) holds a *copy* of the views, as plain tables in its own private DuckDB
   file (under ``<home>/sql-sandbox/``, removed with the worker). It has a minimal
   environment (no Ray token), an address-space limit (a memory bomb fails there, not
   in the result manager) and a file-size limit.
2. **The copy is refreshed before every query**: in one read transaction, the result
   manager compares every dispatch's status with what the copy holds and re-copies
   only dispatches that are new, changed, deleted or not yet finished (a finished
   dispatch never changes again). Queries therefore see everything committed before they
   started, and the result manager keeps writing meanwhile: it only reads.
3. **The worker's DuckDB is locked down before any query**: ``enable_external_access``
   off (no file, URL, ``ATTACH``, ``COPY``, replacement scan or extension install),
   extension autoloading off, then ``lock_configuration`` so no later statement can
   change a setting. It has one thread, a memory limit and a bounded spill directory.
4. **Every query is checked before it runs**, by DuckDB's own parser (so the check and
   the execution cannot disagree on what the text means): exactly one statement, of type
   SELECT (``EXPLAIN``, ``PRAGMA``, ``SET``, ``COPY``, ``ATTACH``, ``EXPORT``,
   ``INSTALL``/``LOAD``, ``CALL``, DDL and DML are refused); in its syntax tree, every
   relation is a view or a CTE of the query, every table function is in
   :data:`ALLOWED_TABLE_FUNCTIONS` (``range``, ``unnest``, ``json_each``...; no
   ``read_csv``, ``query``, ``duckdb_settings``...), and no function reaches settings,
   variables, sequences, logs, the catalog or the clock of the process
   (:data:`DENIED_FUNCTIONS`). A refused query raises :class:`QueryRejectedError` with
   the reason and changes nothing.
5. **Rows, bytes and time are bounded**: results stream and stop at ``max_rows`` rows or
   :attr:`SqlLimits.max_bytes` (the answer says it was truncated); a query running past
   its timeout is interrupted (``QueryError``: "interrupted after N s"), and a worker
   that does not stop within a grace period after that is killed and restarted.

Limits of the design: the views must fit in the worker's spill-backed database (its file
is discarded with the worker, so a new worker copies everything again); the first query
after a start copies everything (about a second per 100 000 electrons on two cores); a
query can still use one CPU for its whole timeout; and a killed worker fails the other
queries it was running at that moment (they can simply be retried).
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .._exceptions import QueryError, QueryRejectedError
from .._status import TERMINAL

log = logging.getLogger(__name__)

# -- the views ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a view: its name, DuckDB type, meaning, and how it is computed."""

    name: str
    type: str
    doc: str
    expr: str


@dataclass(frozen=True)
class View:
    """A relation offered to SQL users, computed from the base tables.

    ``source`` is the FROM clause (with joins); ``ctes`` an optional WITH list. Both may
    hold ``{ids:ALIAS}``, which becomes a filter on ``ALIAS.dispatch_id`` when only some
    dispatches are copied, and ``TRUE`` when all are."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    source: str
    ctes: str = ""

    def select(self, only_some: bool) -> str:
        """The query computing this view (``$ids`` holds the dispatch ids if
        ``only_some``)."""
        cols = ",\n       ".join(f"{c.expr} AS {c.name}" for c in self.columns)
        text = (f"WITH {self.ctes}\n" if self.ctes else "") + f"SELECT {cols}\nFROM {self.source}"

        def only(match: re.Match[str]) -> str:
            if not only_some:
                return "TRUE"
            return f"{match.group(1)}.dispatch_id IN (SELECT unnest($ids::VARCHAR[]))"

        return re.sub(r"\{ids:(\w+)\}", only, text)

    def ddl(self) -> str:
        """``CREATE TABLE`` for the copy of this view in the sandbox."""
        cols = ", ".join(f"{c.name} {c.type}" for c in self.columns)
        return f"CREATE TABLE {self.name} ({cols})"


def _value(json_col: str, repr_col: str) -> str:
    # JSON when the value is made of JSON types, else its repr as a JSON string, so that
    # json_extract works on every row and never meets a NULL for a value that exists
    return f"coalesce({json_col}, to_json({repr_col}))"


_DISPATCHES = View(
    name="dispatches",
    doc="One row per dispatch, sublattice dispatches included.",
    source="dispatches d WHERE {ids:d}",
    columns=(
        Column(
            "dispatch_id",
            "VARCHAR",
            "The dispatch's ID, as `ct.dispatch` returned it.",
            "d.dispatch_id",
        ),
        Column("name", "VARCHAR", "The lattice's name.", "d.name"),
        Column(
            "status",
            "VARCHAR",
            "`NEW_OBJECT`, `RUNNING`, `COMPLETED`, `FAILED`, "
            "`CANCELLED`, ... (the `ct.status` names).",
            "d.status",
        ),
        Column(
            "root_dispatch_id",
            "VARCHAR",
            "The top-level dispatch this one belongs to (its own ID unless it is a sublattice).",
            "d.root_dispatch_id",
        ),
        Column(
            "parent_dispatch_id",
            "VARCHAR",
            "The dispatch whose sublattice electron "
            "started this one; NULL for a top-level dispatch.",
            "d.parent_dispatch_id",
        ),
        Column(
            "parent_node_id",
            "INTEGER",
            "The node of the parent dispatch that ran this "
            "sublattice; NULL for a top-level dispatch.",
            "d.parent_node_id",
        ),
        Column(
            "executor", "VARCHAR", "The lattice's default executor for its electrons.", "d.executor"
        ),
        Column(
            "workflow_executor",
            "VARCHAR",
            "The lattice's workflow executor.",
            "d.workflow_executor",
        ),
        Column(
            "created_at", "TIMESTAMP", "When the dispatch was registered (UTC).", "d.created_at"
        ),
        Column("start_time", "TIMESTAMP", "When it started running (UTC).", "d.start_time"),
        Column("end_time", "TIMESTAMP", "When it ended (UTC); NULL while it runs.", "d.end_time"),
        Column(
            "duration_s",
            "DOUBLE",
            "`end_time - start_time` in seconds; NULL while it runs.",
            "epoch(d.end_time - d.start_time)",
        ),
        Column(
            "num_nodes",
            "INTEGER",
            "Nodes in its graph (electrons, parameters and the "
            "glue nodes of collections, attributes and operators).",
            "d.num_nodes",
        ),
        Column(
            "error",
            "VARCHAR",
            "Why it failed (each failed electron named); NULL unless it failed or was cancelled.",
            "d.error",
        ),
        Column(
            "inputs",
            "JSON",
            'The lattice\'s arguments: `{"args": [...], "kwargs": '
            "{...}}` (the readable string as a JSON string when they are not all JSON "
            "types).",
            _value("d.inputs_json", "d.inputs_repr"),
        ),
        Column(
            "inputs_repr",
            "VARCHAR",
            "The arguments' readable form (`repr`, at most 2000 characters).",
            "d.inputs_repr",
        ),
        Column(
            "result",
            "JSON",
            "The lattice's return value as JSON, or its readable string "
            "as a JSON string; NULL until it completes.",
            _value("d.result_json", "d.result_repr"),
        ),
        Column("result_repr", "VARCHAR", "The return value's readable form.", "d.result_repr"),
    ),
)

# Inputs of an electron: for every incoming argument edge, the parent's output. A name
# used by several positional arguments is a ``*args`` parameter: its values form a list.
_INPUT_CTES = """
_args AS (
    SELECT g.dispatch_id, g.child_node_id AS node_id, g.kind, g.arg_index,
           coalesce(g.param_name, CAST(g.arg_index AS VARCHAR)) AS arg_name,
           coalesce(p.output_json, to_json(p.output_repr)) AS value
    FROM edges g
    JOIN electrons p ON p.dispatch_id = g.dispatch_id AND p.node_id = g.parent_node_id
    WHERE g.kind <> 'wait' AND {ids:g} AND {ids:p}
), _named AS (
    SELECT dispatch_id, node_id, arg_name,
           -- keyword arguments come after the positional ones
           min(CASE WHEN kind = 'kwarg' THEN 1000000000 ELSE arg_index END) AS pos,
           CASE WHEN count(*) = 1 THEN any_value(value)
                ELSE to_json(list(value ORDER BY arg_index)) END AS value
    FROM _args GROUP BY dispatch_id, node_id, arg_name
), _inputs AS (
    SELECT dispatch_id, node_id,
           to_json(map(list(arg_name ORDER BY pos, arg_name),
                       list(value ORDER BY pos, arg_name))) AS inputs
    FROM _named GROUP BY dispatch_id, node_id
)"""

_ELECTRONS = View(
    name="electrons",
    doc="One row per node of every dispatch's graph: electrons, parameters, sublattices "
    "and the glue nodes (`kind` tells them apart).",
    ctes=_INPUT_CTES,
    source="electrons e JOIN dispatches d ON d.dispatch_id = e.dispatch_id\n"
    "LEFT JOIN _inputs i ON i.dispatch_id = e.dispatch_id AND i.node_id = e.node_id\n"
    "WHERE {ids:e} AND {ids:d}",
    columns=(
        Column(
            "dispatch_id",
            "VARCHAR",
            "The dispatch the node belongs to (its parent dispatch).",
            "e.dispatch_id",
        ),
        Column(
            "node_id",
            "INTEGER",
            "The node's id in the graph (`result.get_node_result(i)`).",
            "e.node_id",
        ),
        Column(
            "name",
            "VARCHAR",
            "The electron's function name (parameters are "
            "`:parameter:<value>`, glue nodes `:electron_list:` and the like).",
            "e.name",
        ),
        Column(
            "kind",
            "VARCHAR",
            "`electron`, `sublattice`, `parameter`, `electron_list`, "
            "`electron_tuple`, `electron_set`, `electron_dict`, `getitem`, `getattr` or "
            "`operator`.",
            "e.kind",
        ),
        Column(
            "status",
            "VARCHAR",
            "Its status; electrons downstream of a failure stay `NEW_OBJECT`.",
            "e.status",
        ),
        Column(
            "executor",
            "VARCHAR",
            "The executor that ran it (electrons and sublattices; NULL for other kinds).",
            "e.executor",
        ),
        Column(
            "root_dispatch_id",
            "VARCHAR",
            "The top-level dispatch the node belongs to.",
            "d.root_dispatch_id",
        ),
        Column(
            "sub_dispatch_id",
            "VARCHAR",
            "For a sublattice node: the child dispatch it started.",
            "e.sub_dispatch_id",
        ),
        Column(
            "reused_from",
            "VARCHAR",
            "The dispatch whose stored output a redispatch "
            "reused instead of running it again; NULL otherwise.",
            "e.reused_from",
        ),
        Column("start_time", "TIMESTAMP", "When it started running (UTC).", "e.start_time"),
        Column("end_time", "TIMESTAMP", "When it ended (UTC).", "e.end_time"),
        Column(
            "duration_s",
            "DOUBLE",
            "`end_time - start_time` in seconds.",
            "epoch(e.end_time - e.start_time)",
        ),
        Column("ray_node_id", "VARCHAR", "The Ray node that ran it.", "e.ray_node_id"),
        Column(
            "worker_pid", "INTEGER", "The process id of the Ray worker that ran it.", "e.worker_pid"
        ),
        Column(
            "attempt",
            "INTEGER",
            "Attempts made: 1 for a first run, more after retries, "
            "0 if it never ran (the `attempts` view has each one).",
            "e.attempt",
        ),
        Column("error", "VARCHAR", "The exception and traceback when it failed.", "e.error"),
        Column(
            "inputs",
            "JSON",
            'Its arguments by parameter name, e.g. `{"lr": 0.1, '
            '"depth": 3}`: positional arguments named after the parameters they bind '
            "to, keyword arguments by keyword, several `*args` values as a list under "
            "that parameter's name; arguments without a name (those of glue nodes) "
            'under their position (`"0"`, `"1"`). Each value is the parent\'s '
            "output as in `output`; `{}` without arguments.",
            "coalesce(i.inputs, '{}'::JSON)",
        ),
        Column(
            "output",
            "JSON",
            "Its output as JSON, or its readable string as a JSON string; NULL until it completes.",
            _value("e.output_json", "e.output_repr"),
        ),
        Column(
            "output_repr",
            "VARCHAR",
            "The output's readable form (`repr`, at most 2000 characters).",
            "e.output_repr",
        ),
        Column("stdout", "VARCHAR", "What it printed to standard output.", "e.stdout"),
        Column("stderr", "VARCHAR", "What it printed to standard error.", "e.stderr"),
    ),
)

_EDGES = View(
    name="edges",
    doc="One row per edge of every graph: the parent node's output feeds the child node.",
    source="edges g WHERE {ids:g}",
    columns=(
        Column("dispatch_id", "VARCHAR", "The dispatch of the graph.", "g.dispatch_id"),
        Column("parent_node_id", "INTEGER", "The node whose output is passed.", "g.parent_node_id"),
        Column("child_node_id", "INTEGER", "The node receiving it.", "g.child_node_id"),
        Column(
            "kind",
            "VARCHAR",
            "`arg` (positional), `kwarg` (keyword) or `wait` (ordering only, from `ct.wait`).",
            "g.kind",
        ),
        Column(
            "arg_index",
            "INTEGER",
            "Position among the positional arguments; NULL otherwise.",
            "g.arg_index",
        ),
        Column(
            "param_name",
            "VARCHAR",
            "The keyword, or the parameter a positional argument binds to; NULL when unknown.",
            "g.param_name",
        ),
    ),
)

_ELECTRON_INPUTS = View(
    name="electron_inputs",
    doc="One row per argument of every node (what `electrons.inputs` is built from), for "
    "filtering or grouping by argument.",
    source="edges g JOIN electrons p ON p.dispatch_id = g.dispatch_id "
    "AND p.node_id = g.parent_node_id\nWHERE g.kind <> 'wait' AND {ids:g} AND {ids:p}",
    columns=(
        Column("dispatch_id", "VARCHAR", "The dispatch.", "g.dispatch_id"),
        Column("node_id", "INTEGER", "The node receiving the argument.", "g.child_node_id"),
        Column(
            "name", "VARCHAR", "The parameter or keyword name; NULL when unknown.", "g.param_name"
        ),
        Column(
            "position",
            "INTEGER",
            "Position among the positional arguments; NULL for a keyword argument.",
            "g.arg_index",
        ),
        Column("kind", "VARCHAR", "`arg` or `kwarg`.", "g.kind"),
        Column(
            "parent_node_id",
            "INTEGER",
            "The node whose output is the argument (a `parameter` node for a plain value).",
            "g.parent_node_id",
        ),
        Column(
            "value",
            "JSON",
            "The argument as JSON, or its readable string as a JSON "
            "string; NULL until the parent has completed.",
            _value("p.output_json", "p.output_repr"),
        ),
        Column("value_repr", "VARCHAR", "The argument's readable form.", "p.output_repr"),
    ),
)

_ATTEMPTS = View(
    name="attempts",
    doc="One row per finished attempt of an electron (retries, timeouts and re-runs after "
    "a crash each add one).",
    source="attempts a WHERE {ids:a}",
    columns=(
        Column("dispatch_id", "VARCHAR", "The dispatch.", "a.dispatch_id"),
        Column("node_id", "INTEGER", "The electron's node id.", "a.node_id"),
        Column(
            "attempt", "INTEGER", "1 for the first attempt, 2 for the first retry, ...", "a.attempt"
        ),
        Column(
            "status", "VARCHAR", "How the attempt ended (`COMPLETED`, `FAILED`, ...).", "a.status"
        ),
        Column("start_time", "TIMESTAMP", "When it started (UTC).", "a.start_time"),
        Column("end_time", "TIMESTAMP", "When it ended (UTC).", "a.end_time"),
        Column(
            "duration_s",
            "DOUBLE",
            "`end_time - start_time` in seconds.",
            "epoch(a.end_time - a.start_time)",
        ),
        Column("error", "VARCHAR", "Why it failed; NULL if it did not.", "a.error"),
        Column("ray_node_id", "VARCHAR", "The Ray node it ran on.", "a.ray_node_id"),
        Column("worker_pid", "INTEGER", "The Ray worker process it ran in.", "a.worker_pid"),
    ),
)

#: The relations a query may read, by name.
VIEWS: dict[str, View] = {
    v.name: v for v in (_DISPATCHES, _ELECTRONS, _EDGES, _ELECTRON_INPUTS, _ATTEMPTS)
}


def schema() -> list[dict[str, Any]]:
    """The views and their columns as plain data (for ``--schema``, REST and the UI)."""
    return [
        {
            "name": v.name,
            "doc": v.doc,
            "columns": [{"name": c.name, "type": c.type, "doc": c.doc} for c in v.columns],
        }
        for v in VIEWS.values()
    ]


def schema_markdown() -> str:
    """The README's reference tables of every view's columns."""
    parts = []
    for v in VIEWS.values():
        rows = "\n".join(f"| `{c.name}` | {c.type} | {c.doc} |" for c in v.columns)
        parts.append(
            f"**`{v.name}`**: {v.doc}\n\n| column | type | meaning |\n|---|---|---|\n{rows}\n"
        )
    return "\n".join(parts)


# -- the policy -----------------------------------------------------------------------

#: Table functions a query may use: they compute rows, they read nothing.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {"range", "generate_series", "unnest", "json_each", "json_tree"}
)

#: Functions a query may not call: they read settings, variables, the catalog or logs,
#: change state (sequences, seeds, logs), run SQL given as data, or just sleep.
DENIED_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getenv",
        "getvariable",
        "setseed",
        "nextval",
        "currval",
        "setval",
        "write_log",
        "pg_sleep",
        "sleep_ms",
        "json_execute_serialized_sql",
        "json_serialize_sql",
        "json_deserialize_sql",
        "json_serialize_plan",
        "copy_database",
        "import_database",
        "database_size",
        "storage_info",
        "metadata_info",
        "table_info",
        "show",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "user_agent",
        "platform",
        "extension_versions",
        "current_query",
        "current_query_id",
        "current_connection_id",
        "current_transaction_id",
        "txid_current",
        "parse_duckdb_log_message",
        "query",
        "query_table",
        "checkpoint",
        "force_checkpoint",
        "inet_client_addr",
        "inet_client_port",
        "inet_server_addr",
        "inet_server_port",
        "pg_postmaster_start_time",
        "pg_conf_load_time",
        "current_database",
        "current_catalog",
        "database_list",
        "functions",
        "collations",
    }
)
_DENIED_PREFIXES = (
    "duckdb_",
    "pragma_",
    "enable_",
    "disable_",
    "__internal",
    "pg_get_",
    "has_",
    "icu_calendar",
)

_SELECT_ONLY = (
    "only read queries run here: send one SELECT (or WITH ... SELECT, FROM, "
    "VALUES, DESCRIBE, SUMMARIZE) over the views " + ", ".join(VIEWS) + "."
)


def check_query(con: Any, text: str, max_chars: int = 100_000) -> None:
    """Raise :class:`QueryRejectedError` unless ``text`` is one read-only statement over
    the views (see the module's policy); ``con`` is any DuckDB connection (parsing only).
    """
    import duckdb

    if len(text) > max_chars:
        raise QueryRejectedError(
            f"the query is {len(text)} characters long; at most {max_chars} are accepted."
        )
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise QueryRejectedError(f"the query does not parse: {exc}") from None
    if len(statements) != 1:
        raise QueryRejectedError(
            f"the text holds {len(statements)} statements; send exactly one SELECT."
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryRejectedError(f"{kind.name} statements are refused: {_SELECT_ONLY}")
    raw = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0]
    tree = json.loads(raw)
    if tree.get("error"):
        raise QueryRejectedError(
            f"the query cannot be analysed ({tree.get('error_message', 'unknown form')}): "
            f"{_SELECT_ONLY}"
        )
    ctes = {name.lower() for name in _cte_names(tree)}
    for node in _walk(tree):
        _check_node(node, ctes)


def _walk(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cte_names(tree: Any) -> Iterator[str]:
    for node in _walk(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map", []):
                yield str(entry.get("key", ""))


def _check_node(node: dict[str, Any], ctes: set[str]) -> None:
    ref_type = node.get("type")
    if ref_type == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        catalog, schema_name = node.get("catalog_name", ""), node.get("schema_name", "")
        known = name.lower() in VIEWS or (name.lower() in ctes and not schema_name)
        if catalog or schema_name not in ("", "main") or not known:
            shown = ".".join(p for p in (catalog, schema_name, name) if p)
            raise QueryRejectedError(
                f"the query reads {shown!r}, which is not a result view; queries may read "
                f"only {', '.join(VIEWS)} (and their own CTEs)."
            )
    elif ref_type == "TABLE_FUNCTION":
        fn = node.get("function") or {}
        name = str(fn.get("function_name", "")).lower()
        if name not in ALLOWED_TABLE_FUNCTIONS or fn.get("schema") or fn.get("catalog"):
            raise QueryRejectedError(
                f"the table function {name!r} is refused (no files, URLs, catalogs or "
                f"nested SQL); allowed: {', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))}."
            )
    elif ref_type == "SHOW_REF" and node.get("query") is None:
        raise QueryRejectedError(
            "SHOW lists the database's catalog, which is refused; "
            "DESCRIBE a view instead (e.g. `DESCRIBE electrons`)."
        )
    elif node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name in DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            raise QueryRejectedError(
                f"the function {name!r} is refused: queries may not read settings, "
                "variables, sequences, logs or the catalog, nor sleep."
            )


# -- limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlLimits:
    """Bounds on what one query, and the sandbox worker, may use."""

    max_rows: int = 10_000  # rows returned when the caller does not say
    max_rows_cap: int = 1_000_000  # the most a caller may ask for
    max_bytes: int = 64 * 2**20  # Arrow bytes of one answer
    timeout_s: float = 30.0  # when the caller does not say
    timeout_cap_s: float = 600.0
    grace_s: float = 5.0  # after the interrupt, before the worker is killed
    memory_mb: int = 1024  # DuckDB memory_limit of the worker
    spill_mb: int = 8192  # what the worker's DuckDB may write (its copy plus spills)
    address_space_mb: int = 4096  # RLIMIT_AS of the worker: a memory bomb fails there
    max_query_chars: int = 100_000
    concurrency: int = 2  # queries the worker runs at once

    def rows(self, asked: int | None) -> int:
        """The row bound for a call that asked for ``asked``."""
        if asked is None:
            return self.max_rows
        if asked < 1:
            raise QueryRejectedError(f"max_rows must be at least 1 (got {asked}).")
        return min(int(asked), self.max_rows_cap)

    def seconds(self, asked: float | None) -> float:
        """The timeout for a call that asked for ``asked``."""
        if asked is None:
            return self.timeout_s
        if not asked > 0:
            raise QueryRejectedError(f"timeout must be positive (got {asked}).")
        return min(float(asked), self.timeout_cap_s)


# -- framing between the result manager and the worker --------------------------------
# A frame is a JSON header and an optional body (Arrow IPC bytes). No pickle crosses the
# boundary: the worker runs untrusted SQL, so what it sends back must be inert data.

_FRAME = struct.Struct(">IQ")


def _send(stream: IO[bytes], header: dict[str, Any], *body: bytes) -> None:
    head = json.dumps(header, default=str).encode()
    stream.write(_FRAME.pack(len(head), sum(len(b) for b in body)) + head)
    stream.writelines(body)  # chunk by chunk: a large copy is never joined in memory
    stream.flush()


def _receive(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    prefix = stream.read(_FRAME.size)
    if len(prefix) < _FRAME.size:
        return None
    head_len, body_len = _FRAME.unpack(prefix)
    header = json.loads(stream.read(head_len))
    body = stream.read(body_len) if body_len else b""
    return header, body


def arrow_to_ipc(table: Any) -> bytes:
    """Arrow IPC stream bytes of ``table``."""
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _arrow_table(relation: Any) -> Any:
    # newer DuckDB calls it to_arrow_table and deprecates fetch_arrow_table, which older
    # releases (the project allows duckdb>=1.1) have alone
    method = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return method()


def _arrow_reader(relation: Any, batch_rows: int) -> Any:
    method = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    return method(batch_rows)


def ipc_to_arrow(data: bytes) -> Any:
    """The Arrow table in IPC stream bytes."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


# -- the worker (runs in its own process) ---------------------------------------------


def _limit_process(limits: SqlLimits) -> None:
    """Bound this process before DuckDB is even imported."""
    import resource

    mib = 2**20
    for which, value in (
        (resource.RLIMIT_AS, limits.address_space_mb * mib),
        (resource.RLIMIT_FSIZE, limits.spill_mb * mib),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):  # a lower hard limit is already in place
            pass


def _open_sandbox(directory: str, limits: SqlLimits) -> Any:
    """The worker's DuckDB: the view tables, then every safety switch, then the lock."""
    import duckdb

    con = duckdb.connect(
        os.path.join(directory, "views.duckdb"),
        config={
            "threads": 1,
            "memory_limit": f"{limits.memory_mb}MB",
            "temp_directory": os.path.join(directory, "spill"),
            "max_temp_directory_size": f"{limits.spill_mb}MB",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
        },
    )
    con.execute("SET TimeZone = 'UTC'")  # stored times are UTC: now()::TIMESTAMP matches
    for view in VIEWS.values():
        con.execute(view.ddl())
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class _WorkerServer:
    """The worker's side: applies copies of the views and answers queries."""

    def __init__(self, con: Any, limits: SqlLimits, out: IO[bytes]) -> None:
        self.con = con
        self.limits = limits
        self.out = out
        self.out_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(limits.concurrency, thread_name_prefix="sql-query")

    def reply(self, header: dict[str, Any], body: bytes = b"") -> None:
        with self.out_lock:
            _send(self.out, header, body)

    def load(self, request: dict[str, Any], body: bytes) -> None:
        """Replace the rows of the given dispatches (all rows when ``ids`` is None)."""
        ids = request.get("ids")
        cur = self.con.cursor()
        offset, registered = 0, []
        try:
            cur.execute("BEGIN TRANSACTION")
            for name, size in request["parts"]:
                if name not in VIEWS:
                    raise ValueError(f"unknown view {name!r}")
                table = ipc_to_arrow(body[offset : offset + size])
                offset += size
                if ids is None:
                    cur.execute(f"DELETE FROM {name}")
                elif ids:
                    cur.execute(
                        f"DELETE FROM {name} WHERE dispatch_id IN (SELECT unnest(?::VARCHAR[]))",
                        [ids],
                    )
                if table.num_rows:
                    alias = f"_load_{name}"
                    cur.register(alias, table)
                    registered.append(alias)
                    cur.execute(f"INSERT INTO {name} SELECT * FROM {alias}")
            cur.execute("COMMIT")
            self.reply({"id": request["id"], "ok": True})
        except Exception as exc:  # whatever broke the copy, the result manager must hear
            try:
                cur.execute("ROLLBACK")
            except Exception:  # noqa: S110  (no transaction left to roll back)
                pass
            self.reply(
                {
                    "id": request["id"],
                    "ok": False,
                    "kind": "failed",
                    "message": f"copying the views into the SQL sandbox failed: {exc}",
                }
            )
        finally:
            for alias in registered:
                cur.unregister(alias)
            cur.close()

    def query(self, request: dict[str, Any]) -> None:
        """Check and run one query; reply with its rows or why there are none."""
        rid = request["id"]
        try:
            header, body = self._run(request)
            self.reply({"id": rid, "ok": True, **header}, body)
        except QueryRejectedError as exc:
            self.reply({"id": rid, "ok": False, "kind": "rejected", "message": str(exc)})
        except QueryError as exc:
            self.reply({"id": rid, "ok": False, "kind": "failed", "message": str(exc)})
        except MemoryError:
            self.reply(
                {
                    "id": rid,
                    "ok": False,
                    "kind": "failed",
                    "message": "the query ran out of memory in the SQL sandbox "
                    f"(limit {self.limits.address_space_mb} MB).",
                }
            )
        except Exception as exc:  # any other failure is the query's, reported as such
            self.reply(
                {
                    "id": rid,
                    "ok": False,
                    "kind": "failed",
                    "message": f"{type(exc).__name__}: {exc}",
                }
            )

    def _run(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        import duckdb
        import pyarrow as pa

        text, params = request["sql"], request.get("params")
        max_rows, max_bytes = int(request["max_rows"]), self.limits.max_bytes
        timeout = float(request["timeout"])
        cur = self.con.cursor()
        fired = threading.Event()

        def interrupt() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(timeout, interrupt)
        started = time.perf_counter()
        try:
            check_query(cur, text, self.limits.max_query_chars)
            timer.start()
            relation = cur.sql(text, params=params or None)
            if relation is None:  # not a query after all; the check should have caught it
                raise QueryRejectedError(_SELECT_ONLY)
            types = [str(t) for t in relation.types]
            reader = _arrow_reader(relation, 2048)
            batches, rows, size, truncated = [], 0, 0, ""
            for batch in reader:
                if rows + batch.num_rows > max_rows:
                    batch = batch.slice(0, max_rows - rows)
                    truncated = "rows"
                if size + batch.nbytes > max_bytes:
                    # keep the share of this batch that fits (rows are similar in size)
                    keep = int(batch.num_rows * (max_bytes - size) / max(batch.nbytes, 1))
                    batches.append(batch.slice(0, max(keep, 0)))
                    rows += max(keep, 0)
                    truncated = "bytes"
                    break
                batches.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
                if truncated:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise QueryError(
                f"the query was interrupted after {timeout:g} s (its time limit); narrow "
                "it or pass a larger timeout."
            ) from None
        except duckdb.OutOfMemoryException as exc:
            first = str(exc).strip().splitlines()[0]  # DuckDB's tips about SET do not apply
            raise QueryError(
                f"the query ran out of memory in the SQL sandbox ({first}); "
                "aggregate or filter more."
            ) from None
        except (duckdb.Error, pa.ArrowException) as exc:
            # an interrupt while batches stream surfaces as an Arrow error
            if fired.is_set():
                raise QueryError(
                    f"the query was interrupted after {timeout:g} s (its time "
                    "limit); narrow it or pass a larger timeout."
                ) from None
            raise QueryError(str(exc)) from None
        finally:
            timer.cancel()
            cur.close()
        header = {
            "columns": table.column_names,
            "types": types,
            "row_count": table.num_rows,
            "truncated": truncated or None,
            "max_rows": max_rows,
            "elapsed_s": round(time.perf_counter() - started, 6),
        }
        return header, arrow_to_ipc(table)

    def serve(self, source: IO[bytes]) -> None:
        while True:
            frame = _receive(source)
            if frame is None:  # the result manager is gone
                return
            request, body = frame
            if request["op"] == "load":
                self.load(request, body)
            elif request["op"] == "query":
                self.pool.submit(self.query, request)
            elif request["op"] == "ping":
                self.reply({"id": request["id"], "ok": True})


def _exit_with_parent(parent: int, directory: str) -> None:
    """Stop when the result manager's process is gone, even in the middle of a query."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            shutil.rmtree(directory, ignore_errors=True)
            os._exit(0)


def serve_worker() -> None:
    """Entry point of the sandbox worker process (``argv[1]``: its settings as JSON)."""
    settings = json.loads(sys.argv[1])
    limits = SqlLimits(**settings["limits"])
    _limit_process(limits)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the protocol on stdout
    directory = settings["directory"]
    # held for this process's life: a directory whose lock is free belongs to nobody
    lock = open(os.path.join(directory, _LOCK), "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    threading.Thread(
        target=_exit_with_parent, args=(settings["parent"], directory), daemon=True
    ).start()
    con = _open_sandbox(directory, limits)
    server = _WorkerServer(con, limits, out)
    server.reply({"id": 0, "ok": True, "ready": True})
    server.serve(sys.stdin.buffer)
    # the result manager is gone (or stopped us): nobody will read the answers of queries
    # still running, and the copy is worth nothing without it
    shutil.rmtree(directory, ignore_errors=True)
    os._exit(0)


# -- the result manager's side --------------------------------------------------------


_LOCK = "in-use.lock"


def default_root() -> Path:
    """Where sandbox directories go when the caller names no place (tests, benchmarks);
    the result manager uses ``<home>/sql-sandbox``."""
    return Path(tempfile.gettempdir()) / f"covalent-ray-sql-{os.getuid()}"


def _sweep(root: Path) -> None:
    """Remove the directories of workers that are gone. A worker killed together with
    the result manager (a stopped service kills the actor's whole process group) cannot
    clean up after itself; its lock, though, died with it."""
    for directory in root.glob("worker-*"):
        try:
            with open(directory / _LOCK, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live worker holds it
        except OSError:
            pass  # no lock file: its worker never started
        shutil.rmtree(directory, ignore_errors=True)


class _Worker:
    """One sandbox process, and the requests in flight to it."""

    def __init__(self, limits: SqlLimits, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        _sweep(root)
        self.directory = tempfile.mkdtemp(prefix="worker-", dir=root)
        settings = {"limits": asdict(limits), "directory": self.directory, "parent": os.getpid()}
        env = {  # nothing of the service's environment (tokens, addresses) goes along
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "HOME": self.directory,
            "TMPDIR": self.directory,
            "LANG": "C.UTF-8",
            "MALLOC_ARENA_MAX": "2",
            "OMP_NUM_THREADS": "1",
            "PYTHONNOUSERSITE": "1",
        }
        code = "from covalent_ray.storage.sql import serve_worker; serve_worker()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            cwd=self.directory,
        )
        self._lock = threading.Lock()
        self._next = 1
        self._pending: dict[int, Future[tuple[dict[str, Any], bytes]]] = {}
        ready: Future[tuple[dict[str, Any], bytes]] = Future()
        self._pending[0] = ready
        self._reader = threading.Thread(
            target=self._read_replies, daemon=True, name="covalent-ray-sql-replies"
        )
        self._reader.start()
        try:
            ready.result(timeout=60)
        except Exception:
            self.kill()
            raise
        self._finalizer = weakref.finalize(self, _discard, self.proc, self.directory)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_replies(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                frame = _receive(self.proc.stdout)
            except (OSError, ValueError):
                frame = None
            if frame is None:
                break
            with self._lock:
                fut = self._pending.pop(int(frame[0].get("id", -1)), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        code = self.proc.wait()
        self._fail_all(
            QueryError(
                f"the SQL sandbox worker stopped (exit code {code}), most likely because a "
                "query exhausted its memory; it restarts with the next query."
            )
        )

    def _fail_all(self, exc: Exception) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def request(self, header: dict[str, Any], *body: bytes) -> Future[tuple[dict[str, Any], bytes]]:
        """Send a request; the future resolves with the worker's reply frame."""
        fut: Future[tuple[dict[str, Any], bytes]] = Future()
        with self._lock:
            rid = self._next
            self._next += 1
            self._pending[rid] = fut
            try:
                assert self.proc.stdin is not None
                _send(self.proc.stdin, {**header, "id": rid}, *body)
            except (OSError, ValueError) as exc:
                self._pending.pop(rid, None)
                fut.set_exception(
                    QueryError(
                        f"the SQL sandbox worker is gone ({exc}); it restarts with the next query."
                    )
                )
        return fut

    def kill(self) -> None:
        """Stop the process at once and fail whatever it was doing."""
        _discard(self.proc, self.directory)
        self._fail_all(QueryError("the SQL sandbox worker was stopped."))


def _discard(proc: subprocess.Popen[bytes], directory: str) -> None:
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class _Copy:
    """What the worker's copy of the views holds.

    ``statuses``: dispatch id -> status when copied. ``finished``: count and hash of the
    (id, status) pairs of finished dispatches; while it is unchanged no dispatch finished,
    appeared finished or disappeared, so only running ones need looking at.
    ``running``: a fingerprint of the running dispatches' state rows when copied; while
    it is unchanged, they need no copying either."""

    statuses: dict[str, str] = field(default_factory=dict)
    finished: tuple[Any, ...] | None = None
    running: tuple[Any, ...] | None = None
    loaded: bool = False


_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL)
_FINISHED = "status IN ({})".format(", ".join(f"'{v}'" for v in sorted(_TERMINAL_VALUES)))
_IN_IDS = "dispatch_id IN (SELECT unnest($ids::VARCHAR[]))"

# What changes while a dispatch runs: its row's end, its electrons' state columns (an
# output changes its blob key; logs and errors arrive with a status), its attempts.
_RUNNING_FINGERPRINT = f"""
SELECT (SELECT coalesce(sum(hash(dispatch_id, status, end_time, result_blob)), 0)
        FROM dispatches WHERE {_IN_IDS}),
       (SELECT coalesce(sum(hash(dispatch_id, node_id, status, attempt, start_time,
                                 end_time, output_blob, ray_node_id, sub_dispatch_id)), 0)
        FROM electrons WHERE {_IN_IDS}),
       (SELECT count(*) FROM attempts WHERE {_IN_IDS})
"""


class SqlService:
    """Runs user queries over the views in a sandbox worker (see the module docstring).

    ``cursor`` opens a read cursor on the results database; the service only reads
    through it. Every method blocks: call it from a thread (``pool`` is one sized for it).
    """

    def __init__(
        self, cursor: Callable[[], Any], limits: SqlLimits | None = None, root: Path | None = None
    ) -> None:
        self._cursor = cursor
        self.limits = limits or SqlLimits()
        self.root = root or default_root()  # each worker gets a private directory in it
        self.pool = ThreadPoolExecutor(
            self.limits.concurrency + 1, thread_name_prefix="covalent-ray-sql"
        )
        self._worker: _Worker | None = None
        self._copy = _Copy()
        self._refresh_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self.stats: dict[str, float] = {
            "refreshes": 0,
            "copied_dispatches": 0,
            "last_refresh_s": 0.0,
        }

    # -- worker and copy ---------------------------------------------------------------

    def _live_worker(self) -> _Worker:
        with self._start_lock:
            if self._worker is None or not self._worker.alive:
                if self._worker is not None:
                    self._worker.kill()
                self._worker = None
                self._copy = _Copy()  # a new worker starts empty
                self._worker = _Worker(self.limits, self.root)
            return self._worker

    def _refresh(self) -> _Worker:
        """Bring the worker's copy up to what is committed now; return the worker."""
        with self._refresh_lock:
            worker = self._live_worker()
            started = time.perf_counter()
            copy = self._copy
            cur = self._cursor()
            try:
                cur.execute("BEGIN TRANSACTION")  # one consistent snapshot for all reads
                try:
                    plan = _plan(cur, copy)
                    parts: list[bytes] = []
                    if plan.ids is None or plan.ids:
                        for view in VIEWS.values():
                            rel = cur.sql(
                                view.select(plan.ids is not None),
                                params=None if plan.ids is None else {"ids": plan.ids},
                            )
                            parts.append(arrow_to_ipc(_arrow_table(rel)))
                finally:
                    cur.execute("COMMIT")
            finally:
                cur.close()
            if parts:
                header = {
                    "op": "load",
                    "ids": plan.ids,
                    "parts": [[name, len(data)] for name, data in zip(VIEWS, parts)],
                }
                reply, _ = worker.request(header, *parts).result(
                    timeout=max(60.0, self.limits.timeout_cap_s)
                )
                if not reply.get("ok"):
                    raise QueryError(reply.get("message", "copying the views failed"))
                self.stats["refreshes"] += 1
                self.stats["copied_dispatches"] += (
                    len(plan.statuses) if plan.ids is None else len(plan.ids)
                )
                self.stats["last_refresh_s"] = time.perf_counter() - started
            copy.statuses, copy.finished, copy.running = (
                plan.statuses,
                plan.finished,
                plan.running,
            )
            copy.loaded = True
            return worker

    # -- queries -----------------------------------------------------------------------

    def query(
        self,
        text: str,
        params: list[Any] | dict[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one read-only query over the views.

        Returns ``columns``, ``types``, ``arrow`` (Arrow IPC stream bytes of the rows),
        ``row_count``, ``truncated`` (None, ``"rows"`` or ``"bytes"``), ``max_rows`` and
        ``elapsed_s``. Raises :class:`QueryRejectedError` for a query the policy refuses
        and :class:`QueryError` for one that fails or runs out of time.
        """
        if not isinstance(text, str) or not text.strip():
            raise QueryRejectedError(
                "the query is empty; send one SELECT over the views " + ", ".join(VIEWS) + "."
            )
        if params is not None and not isinstance(params, (list, tuple, dict)):
            raise QueryRejectedError(
                "params must be a list (for ? and $1) or a mapping (for $name)."
            )
        rows, seconds = self.limits.rows(max_rows), self.limits.seconds(timeout)
        worker = self._refresh()
        fut = worker.request(
            {
                "op": "query",
                "sql": text,
                "params": list(params) if isinstance(params, tuple) else params,
                "max_rows": rows,
                "timeout": seconds,
            }
        )
        try:
            reply, body = fut.result(timeout=seconds + self.limits.grace_s)
        except FutureTimeout:
            # interrupting did not stop it (a long scalar call): only a kill does
            worker.kill()
            raise QueryError(
                f"the query did not stop within {self.limits.grace_s:g} s of being "
                f"interrupted at its {seconds:g} s limit; the SQL sandbox was restarted."
            ) from None
        if not reply.get("ok"):
            cls = QueryRejectedError if reply.get("kind") == "rejected" else QueryError
            raise cls(reply.get("message", "the query failed"))
        return {
            "columns": reply["columns"],
            "types": reply["types"],
            "arrow": body,
            "row_count": reply["row_count"],
            "truncated": reply["truncated"],
            "max_rows": reply["max_rows"],
            "elapsed_s": reply["elapsed_s"],
        }

    def answer(
        self,
        text: str,
        params: list[Any] | dict[str, Any] | None = None,
        max_rows: int | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """:meth:`query`, with a refusal or failure returned as ``{"error": {"kind",
        "message"}}`` rather than raised (so it crosses Ray without a traceback)."""
        try:
            return self.query(text, params, max_rows, timeout)
        except QueryRejectedError as exc:
            return {"error": {"kind": "rejected", "message": str(exc)}}
        except QueryError as exc:
            return {"error": {"kind": "failed", "message": str(exc)}}
        except Exception as exc:  # the sandbox itself broke (worker start, copy): say so
            log.exception("the SQL sandbox failed")
            return {
                "error": {
                    "kind": "failed",
                    "message": f"the SQL sandbox failed ({type(exc).__name__}: {exc}); the "
                    "result manager's log has the details.",
                }
            }

    def export(self, view: str) -> bytes:
        """Every row of ``view`` as a Parquet file's bytes, read straight from the
        database (no user SQL is involved)."""
        import pyarrow.parquet as pq

        if view not in VIEWS:
            raise QueryRejectedError(f"no view named {view!r}; the views are {', '.join(VIEWS)}.")
        cur = self._cursor()
        try:
            table = _arrow_table(cur.sql(VIEWS[view].select(False)))
        finally:
            cur.close()
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    def close(self) -> None:
        """Stop the worker (the next query starts a new one)."""
        with self._start_lock:
            if self._worker is not None:
                self._worker.kill()
                self._worker = None
                self._copy = _Copy()


@dataclass
class _Plan:
    """What to copy (``ids``: None for everything) and the state the copy will then hold."""

    ids: list[str] | None
    statuses: dict[str, str]
    finished: tuple[Any, ...]
    running: tuple[Any, ...] | None


def _plan(cur: Any, copy: _Copy) -> _Plan:
    """Compare the database (inside the caller's transaction) with the copy."""
    finished = tuple(
        cur.execute(
            f"SELECT count(*) FILTER ({_FINISHED}), "
            f"coalesce(sum(hash(dispatch_id, status)) FILTER ({_FINISHED}), 0) FROM dispatches"
        ).fetchall()[0]
    )
    if copy.loaded and finished == copy.finished:
        # no dispatch finished, appeared finished or vanished: look at running ones only
        running = dict(
            cur.execute(
                f"SELECT dispatch_id, status FROM dispatches WHERE NOT ({_FINISHED})"
            ).fetchall()
        )
        held_running = {d for d, s in copy.statuses.items() if s not in _TERMINAL_VALUES}
        statuses = {d: s for d, s in copy.statuses.items() if s in _TERMINAL_VALUES}
        statuses.update(running)
        candidates = sorted(held_running | set(running))
        if not candidates:
            return _Plan([], statuses, finished, None)
        now = (
            tuple(sorted(running.items())),
            *cur.execute(_RUNNING_FINGERPRINT, {"ids": candidates}).fetchall()[0],
        )
        unchanged: list[str] = []
        return _Plan(unchanged if now == copy.running else candidates, statuses, finished, now)
    statuses = dict(cur.execute("SELECT dispatch_id, status FROM dispatches").fetchall())
    running_ids = sorted(d for d, s in statuses.items() if s not in _TERMINAL_VALUES)
    fingerprint: tuple[Any, ...] | None = None
    if running_ids:
        fingerprint = (
            tuple(sorted((d, statuses[d]) for d in running_ids)),
            *cur.execute(_RUNNING_FINGERPRINT, {"ids": running_ids}).fetchall()[0],
        )
    if not copy.loaded:
        return _Plan(None, statuses, finished, fingerprint)
    held = copy.statuses
    stale = [d for d, s in statuses.items() if held.get(d) != s or s not in _TERMINAL_VALUES]
    stale += [d for d in held if d not in statuses]
    # copying most of the rows again is cheaper as one full copy than as a filtered one
    everything = 2 * len(stale) >= max(len(statuses), 1)
    return _Plan(None if everything else stale, statuses, finished, fingerprint)


def answer(
    service: SqlService,
    text: str,
    params: Any = None,
    max_rows: int | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``service.answer(...)`` (a plain function, for ``run_in_executor``)."""
    return service.answer(text, params, max_rows, timeout)
