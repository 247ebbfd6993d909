"""The result views: the documented, stable relational face of the results database.

Each column is declared once (name, type, meaning, the expression over the base tables of
``storage/schema.py``); the README's column tables are generated from the same
declarations. ``storage/sql/__init__`` has the whole design."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


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
            "triggered_by",
            "VARCHAR",
            "The dispatch whose trigger fired to start this one (a new run of it); NULL "
            "unless a trigger started it.",
            "d.triggered_by",
        ),
        Column(
            "trigger_id",
            "VARCHAR",
            "The trigger whose firing started this dispatch; NULL unless a trigger did.",
            "d.trigger_id",
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
            "remote_host",
            "VARCHAR",
            "The host a remote executor (SSH, Slurm) ran it on, `user@host:port`.",
            "e.remote_host",
        ),
        Column(
            "job_handle",
            "VARCHAR",
            "The remote job: the Slurm job ID, or the SSH runner's host, pid and task "
            "directory as JSON.",
            "e.job_handle",
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
