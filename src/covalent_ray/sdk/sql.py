"""``ct.sql``: plain SQL over every stored dispatch and electron.

Queries run in the service's SQL sandbox over the result views (``dispatches``,
``electrons``, ``edges``, ``electron_inputs``, ``attempts``; the README documents every
column), never on the database itself: only one read-only statement over those views is
accepted, and rows and run time are bounded (``covalent_ray.storage.sql.policy`` has the policy).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import QueryRejectedError
from .._files import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import pyarrow


class Rows(list[dict[str, Any]]):
    """The answer of :func:`sql`: a list of rows, each a dict from column to value.

    JSON columns (``inputs``, ``output``, ``result``, ``json_extract(...)``...) hold
    Python objects (dicts, lists, strings, numbers, booleans, None), as the REST API
    returns them as JSON; timestamps are naive UTC ``datetime``\\ s. ``columns`` and ``types``
    describe the result even when it has no rows; ``truncated`` is ``"rows"`` or
    ``"bytes"`` when the bound cut it short (None otherwise)."""

    def __init__(
        self, table: pyarrow.Table, types: list[str], truncated: str | None, elapsed_s: float
    ) -> None:
        self.columns: list[str] = list(table.column_names)
        self.types: list[str] = list(types)
        self._json = [c for c, t in zip(self.columns, self.types) if t == "JSON"]
        rows = table.to_pylist()
        for row in rows:
            for column in self._json:
                row[column] = _parse_json(row[column])
        super().__init__(rows)
        self._table = table
        self.truncated = truncated
        self.elapsed_s = elapsed_s

    def arrow(self) -> pyarrow.Table:
        """The rows as a ``pyarrow.Table`` (JSON columns as their JSON text, the form
        Arrow, Parquet and DuckDB read back as JSON)."""
        return self._table

    def df(self) -> pandas.DataFrame:
        """The rows as a ``pandas.DataFrame`` (needs pandas installed); JSON columns hold
        Python objects, as the rows do."""
        try:
            import pandas  # noqa: F401  (fail here with a clear message)
        except ImportError as exc:
            raise ImportError("Rows.df() needs pandas: pip install pandas") from exc
        frame = self._table.to_pandas()
        for column in self._json:
            frame[column] = frame[column].map(_parse_json)
        return frame


def _parse_json(value: Any) -> Any:
    """A JSON column's value as a Python object (SQL NULL stays None)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:  # not JSON after all (DuckDB checks it): keep the text
        return value


def _result_manager(home: str | os.PathLike[str] | None) -> Any:
    from ..client.connect import connect

    return connect(home).result_manager


def sql(
    query: str,
    params: list[Any] | tuple[Any, ...] | dict[str, Any] | None = None,
    *,
    max_rows: int | None = None,
    timeout: float | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Rows:
    """Run one read-only SQL query over the result views and return its rows.

    ``params`` fills ``?`` / ``$1`` placeholders (a list) or ``$name`` ones (a dict).
    At most ``max_rows`` rows come back (10 000 unless given; a warning says when more
    matched), and a query running past ``timeout`` seconds (30 unless given) is
    interrupted. A statement that is not a plain read of the views raises
    :class:`QueryRejectedError` and changes nothing; a query that fails or runs out of
    time raises :class:`QueryError`.

    >>> ct.sql("SELECT name, avg(duration_s) AS s FROM electrons "
    ...        "WHERE kind = 'electron' GROUP BY name ORDER BY s DESC LIMIT 5")
    """
    from ..client.connect import get
    from ..storage.sql import check_answer, ipc_to_arrow

    rm = _result_manager(home)
    answer = get(
        rm.sql.remote(
            query, list(params) if isinstance(params, tuple) else params, max_rows, timeout
        ),
        "running a SQL query",
    )
    check_answer(answer)
    rows = Rows(
        ipc_to_arrow(answer["arrow"]), answer["types"], answer["truncated"], answer["elapsed_s"]
    )
    if rows.truncated:
        limit = "the size bound" if rows.truncated == "bytes" else f"{answer['max_rows']} rows"
        warnings.warn(
            f"the query matched more than {limit}; only {len(rows)} rows are "
            "returned. Pass a larger max_rows, aggregate, or use "
            "`covalent-ray export` for everything.",
            stacklevel=2,
        )
    return rows


def export(
    directory: str | os.PathLike[str],
    views: list[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write each result view (all of them unless ``views`` names some) as
    ``<directory>/<view>.parquet``, readable by pandas, Polars, pyarrow or DuckDB;
    return the written paths by view."""
    from ..client.connect import get
    from ..storage.sql import VIEWS

    chosen = list(views) if views else list(VIEWS)
    unknown = [v for v in chosen if v not in VIEWS]
    if unknown:
        raise QueryRejectedError(
            f"no view named {', '.join(map(repr, unknown))}; the views are {', '.join(VIEWS)}."
        )
    target = Path(directory).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    rm = _result_manager(home)
    written: dict[str, Path] = {}
    for view in chosen:
        data = get(rm.sql_export.remote(view), f"exporting the view {view!r}")
        path = target / f"{view}.parquet"
        atomic_write(path, data)  # a reader never sees half a file
        written[view] = path
    return written
