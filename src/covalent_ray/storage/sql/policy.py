"""The query policy: which statements, relations and functions a user query may use
(checked on DuckDB's own syntax tree), and the bounds on rows, bytes, time and memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..._exceptions import QueryRejectedError
from .views import VIEWS

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

SELECT_ONLY = (
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
        raise QueryRejectedError(f"{kind.name} statements are refused: {SELECT_ONLY}")
    raw = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0]
    tree = json.loads(raw)
    if tree.get("error"):
        raise QueryRejectedError(
            f"the query cannot be analysed ({tree.get('error_message', 'unknown form')}): "
            f"{SELECT_ONLY}"
        )
    for node, ctes in _scoped(tree):
        _check_node(node, ctes)


def _scoped(tree: Any) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    """Every node of the syntax tree, with the CTE names a table reference there binds to.

    Names resolve with their scope, as the binder resolves them: a CTE is visible in the
    main query of its ``WITH`` and in the bodies of the CTEs defined after it, never in
    its own body (there, its name means whatever it shadows: ``WITH duckdb_databases AS
    (SELECT * FROM duckdb_databases)`` reads the catalog) except in the recursive part of a
    ``WITH RECURSIVE`` CTE; a CTE of a subquery is visible only inside that subquery. A
    reference the check takes for a CTE is therefore always one, and that CTE's body was
    checked in its own scope.
    """
    empty: frozenset[str] = frozenset()
    stack: list[tuple[Any, frozenset[str]]] = [(tree, empty)]
    while stack:  # a loop, not recursion: a deeply nested query must not overflow
        item, visible = stack.pop()
        if isinstance(item, list):
            stack.extend((child, visible) for child in item)
            continue
        if not isinstance(item, dict):
            continue
        yield item, visible
        inner = visible
        cte_map = item.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map") or []:
                name = str(entry.get("key", "")).lower()
                body = (entry.get("value") or {}).get("query_node")
                if isinstance(body, dict) and body.get("type") == "RECURSIVE_CTE_NODE":
                    recursive = str(body.get("cte_name", "")).lower() == name
                    # the anchor cannot see the CTE itself, the recursive part can
                    stack.append((body.get("left"), inner))
                    stack.append((body.get("right"), inner | {name} if recursive else inner))
                    rest = {k: v for k, v in body.items() if k not in ("left", "right")}
                    stack.append((rest, inner))
                else:
                    stack.append((entry.get("value"), inner))
                inner = inner | {name}
        for key, child in item.items():
            if key != "cte_map":
                stack.append((child, inner))


def _check_node(node: dict[str, Any], ctes: frozenset[str]) -> None:
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
