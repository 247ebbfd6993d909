"""One database transaction as a context manager: every BEGIN has its COMMIT, or its
ROLLBACK when the block raises (the exception then propagates)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """Run the block in one transaction on ``con`` (a DuckDB connection or cursor)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
