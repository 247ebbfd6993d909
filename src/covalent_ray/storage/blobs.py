"""Content-addressed storage of pickled objects.

Small blobs live inline in the ``blobs`` table; blobs above ``inline_limit`` are written
as files under ``objects/`` (named by their key) and the table keeps only their path, so
tens-of-megabyte outputs never bloat the database file: DuckDB does not shrink its file
when rows are deleted, while a file is simply removed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from .._files import atomic_write

INLINE_LIMIT = 256 * 1024

_SCHEMA = pa.schema(
    [("key", pa.string()), ("size", pa.int64()), ("data", pa.binary()), ("path", pa.string())]
)


_CHUNK = 500


def _lookup(con: Any, columns: str, keys: list[str]) -> list[tuple[Any, ...]]:
    """Rows of ``blobs`` for ``keys``. A literal ``IN (?, ?, ...)`` list is answered from
    the primary-key index; a join against a list scans the whole table, which grows."""
    found: list[tuple[Any, ...]] = []
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        found += con.execute(
            f"SELECT {columns} FROM blobs WHERE key IN ({', '.join('?' * len(chunk))})", chunk
        ).fetchall()
    return found


def _known(con: Any, keys: list[str]) -> set[str]:
    return {row[0] for row in _lookup(con, "key", keys)}


def blob_file(root: Path, key: str) -> Path:
    """Where the blob ``key`` lives as a file under the objects directory ``root``."""
    return root / key[:2] / key


def write_blob_file(root: Path, key: str, data: bytes) -> str:
    """Write a blob's file (once: same key, same bytes) and return its path. Workers on
    the service's machine call it for large outputs, so their bytes never pass through
    the result manager, which then only records the file (``put_many``'s ``files``)."""
    target = blob_file(root, key)
    if not target.exists():
        # private whatever the worker's umask (electrons keep the user's): the home is 0700
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(target, data, mode=0o600)
    return str(target)


class BlobStore:
    """Blobs keyed by content hash, in the database or in files beside it."""

    def __init__(self, root: Path, inline_limit: int = INLINE_LIMIT) -> None:
        self.root = root
        self.inline_limit = inline_limit
        # there from the start: workers on this machine write large outputs into it
        root.mkdir(parents=True, exist_ok=True)

    def put_many(
        self,
        con: Any,
        blobs: dict[str, bytes],
        files: dict[str, tuple[int, str]] | None = None,
    ) -> None:
        """Store every blob not stored yet (keys are content hashes, so equal keys are
        equal bytes); ``files`` are blobs already written as files (key -> size, path)."""
        files = {k: v for k, v in (files or {}).items() if k not in blobs}
        if not blobs and not files:
            return
        known = _known(con, [*blobs, *files])
        rows: dict[str, list[Any]] = {"key": [], "size": [], "data": [], "path": []}
        for key, data in blobs.items():
            if key in known:
                continue
            path = None
            if len(data) > self.inline_limit:
                path = write_blob_file(self.root, key, data)
            rows["key"].append(key)
            rows["size"].append(len(data))
            rows["data"].append(None if path else data)
            rows["path"].append(path)
        for key, (size, path) in files.items():
            if key not in known:
                rows["key"].append(key)
                rows["size"].append(size)
                rows["data"].append(None)
                rows["path"].append(path)
        count = len(rows["key"])
        if not count:
            return
        if count < 32:
            marks = ", ".join(["(?, ?::BIGINT, ?::BLOB, ?::VARCHAR)"] * count)
            con.execute(
                f"INSERT INTO blobs VALUES {marks}",
                [
                    v
                    for i in range(count)
                    for v in (rows["key"][i], rows["size"][i], rows["data"][i], rows["path"][i])
                ],
            )
            return
        con.register("_new_blobs", pa.table(rows, schema=_SCHEMA))
        try:
            con.execute("INSERT INTO blobs SELECT * FROM _new_blobs")
        finally:
            con.unregister("_new_blobs")

    def get_many(self, con: Any, keys: list[str]) -> dict[str, bytes]:
        """The stored bytes of each key found."""
        if not keys:
            return {}
        out: dict[str, bytes] = {}
        for key, data, path in _lookup(con, "key, data, path", list(dict.fromkeys(keys))):
            if data is not None:
                out[key] = bytes(data)
            elif path is not None and os.path.exists(path):
                out[key] = Path(path).read_bytes()
        return out

    def get_small(
        self, con: Any, keys: list[str], limit: int
    ) -> tuple[dict[str, bytes], dict[str, str]]:
        """The bytes of each key found that is at most ``limit`` bytes, and the file of
        each larger one (left for the reader to open, so it is never held here)."""
        small: dict[str, bytes] = {}
        large: dict[str, str] = {}
        if not keys:
            return small, large
        for key, size, data, path in _lookup(
            con, "key, size, data, path", list(dict.fromkeys(keys))
        ):
            if data is not None:
                small[key] = bytes(data)
            elif path is not None and size > limit:
                large[key] = path
            elif path is not None and os.path.exists(path):
                small[key] = Path(path).read_bytes()
        return small, large

    def get(self, con: Any, key: str) -> bytes | None:
        """The stored bytes of ``key``, or None."""
        return self.get_many(con, [key]).get(key)

    def delete_unreferenced(self, con: Any, referenced_sql: str) -> list[str]:
        """Delete the rows of blobs no row references (``referenced_sql`` selects the keys
        in use); return the files to remove once the transaction has committed."""
        rows = con.execute(
            f"SELECT key, path FROM blobs WHERE key NOT IN ({referenced_sql})"
        ).fetchall()
        if rows:
            con.execute(f"DELETE FROM blobs WHERE key NOT IN ({referenced_sql})")
        return [path for _key, path in rows if path]

    @staticmethod
    def remove_files(paths: list[str]) -> None:
        """Remove blob files (after the deletion of their rows committed)."""
        for path in paths:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
