"""``/api/v1/sql``: read-only SQL over the result views, and their schema.

The query runs in the result manager's SQL sandbox (``storage/sql/policy.py`` has the policy);
a refused or failed query is a 400 with the reason. Rows come back as arrays in column
order; JSON columns as JSON values, timestamps as ISO 8601 UTC, and anything JSON cannot
hold (NaN, bytes, intervals) as text.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from ...storage.sql import SqlLimits
from .._deps import Backend
from .._models import ErrorBody

router = APIRouter(prefix="/sql", tags=["sql"])
_LIMITS = SqlLimits()


class SqlRequest(BaseModel):
    """One read-only query over the result views."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(
        min_length=1,
        max_length=_LIMITS.max_query_chars,
        description="One SELECT over dispatches, electrons, edges, "
        "electron_inputs and attempts (DuckDB's dialect).",
        examples=["SELECT status, count(*) AS n FROM dispatches GROUP BY status"],
    )
    params: list[Any] | dict[str, Any] | None = Field(
        None, description="Values for `?`/`$1` placeholders (a list) or `$name` ones (an object)."
    )
    max_rows: int | None = Field(
        None,
        ge=1,
        le=_LIMITS.max_rows_cap,
        description=f"At most this many rows (default {_LIMITS.max_rows}).",
    )
    timeout: float | None = Field(
        None,
        gt=0,
        le=_LIMITS.timeout_cap_s,
        description=f"Interrupt the query after this many seconds (default {_LIMITS.timeout_s:g}).",
    )


class SqlAnswer(BaseModel):
    """The rows of a query."""

    columns: list[str] = Field(description="Column names, in order.")
    types: list[str] = Field(
        description="DuckDB type of each column (`JSON` columns hold JSON values)."
    )
    rows: list[list[Any]] = Field(description="Each row's values in column order.")
    row_count: int
    truncated: Literal["rows", "bytes"] | None = Field(
        description="Set when more rows matched than `max_rows` or the size bound allowed."
    )
    elapsed_s: float = Field(description="Time the query took in the sandbox.")


class ViewColumn(BaseModel):
    """One column of a result view."""

    name: str
    type: str
    doc: str


class ViewSchema(BaseModel):
    """A result view and its columns."""

    name: str
    doc: str
    columns: list[ViewColumn]


def _jsonable(value: Any, is_json: bool) -> Any:
    """A value as plain JSON (the answer must never fail to serialise)."""
    if value is None:
        return None
    if is_json and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the views' times are UTC
            value = value.replace(tzinfo=UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _jsonable(v, False) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, False) for v in value]
    return str(value)


BAD_QUERY: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "The query was refused (not a single read of "
        "the views) or failed (an error, or its time limit).",
    }
}


@router.post("", response_model=SqlAnswer, responses=BAD_QUERY)
async def run_sql(backend: Backend, request: SqlRequest) -> SqlAnswer:
    """Run one read-only SQL query over the result views and return its rows."""
    from ...storage.sql import check_answer, ipc_to_arrow

    budget = (request.timeout or _LIMITS.timeout_s) + _LIMITS.grace_s + 60.0
    # the result manager's ``sql`` answers errors as data (no traceback crosses Ray)
    answer = await backend._call(
        "sql", request.query, request.params, request.max_rows, request.timeout, timeout=budget
    )
    check_answer(answer)
    table = ipc_to_arrow(answer["arrow"])
    is_json = [t == "JSON" for t in answer["types"]]
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [
        [_jsonable(col[r], is_json[c]) for c, col in enumerate(columns)]
        for r in range(table.num_rows)
    ]
    return SqlAnswer(
        columns=answer["columns"],
        types=answer["types"],
        rows=rows,
        row_count=answer["row_count"],
        truncated=answer["truncated"],
        elapsed_s=answer["elapsed_s"],
    )


@router.get("/schema", response_model=list[ViewSchema])
async def sql_schema() -> list[ViewSchema]:
    """The views a query may read, with every column's type and meaning."""
    from ...storage.sql import schema

    return [ViewSchema.model_validate(v) for v in schema()]
