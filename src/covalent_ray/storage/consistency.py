"""What must hold in a results database whatever was killed, as queries that return the
rows breaking it (none, when all is well).

The queries use only names that the base tables and the SQL views share, so the same
check runs on the file itself (after the service stopped) and through ``ct.sql`` while
the service runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._status import TERMINAL

_ENDED = ", ".join(f"'{s.value}'" for s in sorted(TERMINAL, key=lambda s: s.value))

#: name -> a query returning the rows that break the rule the name states
CHECKS: Mapping[str, str] = {
    "every electron belongs to a dispatch": """
        SELECT e.dispatch_id, e.node_id FROM electrons e
        WHERE NOT EXISTS (SELECT 1 FROM dispatches d WHERE d.dispatch_id = e.dispatch_id)""",
    "every edge joins two electrons of its dispatch": """
        SELECT g.dispatch_id, g.parent_node_id, g.child_node_id FROM edges g
        WHERE NOT EXISTS (SELECT 1 FROM electrons e WHERE e.dispatch_id = g.dispatch_id
                          AND e.node_id = g.parent_node_id)
           OR NOT EXISTS (SELECT 1 FROM electrons e WHERE e.dispatch_id = g.dispatch_id
                          AND e.node_id = g.child_node_id)""",
    "every attempt belongs to an electron": """
        SELECT a.dispatch_id, a.node_id, a.attempt FROM attempts a
        WHERE NOT EXISTS (SELECT 1 FROM electrons e WHERE e.dispatch_id = a.dispatch_id
                          AND e.node_id = a.node_id)""",
    "an ended dispatch has an end time": f"""
        SELECT dispatch_id, status FROM dispatches
        WHERE status IN ({_ENDED}) AND end_time IS NULL""",
    # an electron that never started (NEW_OBJECT: a failure upstream kept it from
    # running, as in Covalent) has nothing in flight; anything that started must end
    "every electron of an ended dispatch has ended": f"""
        SELECT e.dispatch_id, e.node_id, e.status FROM electrons e
        JOIN dispatches d ON d.dispatch_id = e.dispatch_id
        WHERE d.status IN ({_ENDED}) AND e.status NOT IN ({_ENDED}, 'NEW_OBJECT')""",
    "an electron completed at most once": """
        SELECT dispatch_id, node_id, count(*) AS completions FROM attempts
        WHERE status = 'COMPLETED' GROUP BY dispatch_id, node_id HAVING count(*) > 1""",
}


def check(run: Callable[[str], list[Any]]) -> dict[str, list[Any]]:
    """Run every check with ``run`` (a query -> rows function, e.g. ``ct.sql`` or a
    DuckDB connection's) and return the broken rules with their offending rows."""
    broken = {}
    for rule, query in CHECKS.items():
        rows = run(query)
        if rows:
            broken[rule] = list(rows)
    return broken
