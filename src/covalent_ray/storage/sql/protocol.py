"""The wire protocol between the result manager and the sandbox worker, and the one way
an answer carries a refusal or failure as data and turns back into an exception.

A frame is a JSON header and an optional body (Arrow IPC bytes). No pickle crosses the
boundary: the worker runs untrusted SQL, so what it sends back must be inert data."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import IO, Any, NoReturn

from ..._exceptions import QueryError, QueryRejectedError

_FRAME = struct.Struct(">IQ")


def send_frame(stream: IO[bytes], header: dict[str, Any], *body: bytes) -> None:
    head = json.dumps(header, default=str).encode()
    stream.write(_FRAME.pack(len(head), sum(len(b) for b in body)) + head)
    stream.writelines(body)  # chunk by chunk: a large copy is never joined in memory
    stream.flush()


def receive_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
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


def arrow_table(relation: Any) -> Any:
    # newer DuckDB calls it to_arrow_table and deprecates fetch_arrow_table, which older
    # releases (the project allows duckdb>=1.1) have alone
    method = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return method()


def arrow_reader(relation: Any, batch_rows: int) -> Any:
    method = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    return method(batch_rows)


def ipc_to_arrow(data: bytes) -> Any:
    """The Arrow table in IPC stream bytes."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


# -- errors as data ---------------------------------------------------------------------
# A refusal or failure crosses the process boundaries (worker -> result manager -> Ray ->
# SDK or API) as ``{"kind": "rejected" | "failed", "message": ...}`` under an answer's
# ``"error"`` key, never as a pickled exception; :func:`check_answer` is the one place
# that turns it back into one.


def error_of(exc: BaseException) -> dict[str, str]:
    """The data form of a refused (:class:`QueryRejectedError`) or failed query."""
    kind = "rejected" if isinstance(exc, QueryRejectedError) else "failed"
    return {"kind": kind, "message": str(exc)}


def raise_error(error: Mapping[str, Any]) -> NoReturn:
    """Raise the exception that ``error`` (the form :func:`error_of` makes) describes."""
    cls = QueryRejectedError if error.get("kind") == "rejected" else QueryError
    raise cls(error.get("message", "the query failed"))


def check_answer(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """``answer`` itself, unless it carries an ``"error"``: then raise that error."""
    error = answer.get("error")
    if error:
        raise_error(error)
    return answer
