"""Why large outputs live in files beside the database: both options, measured.

    python benchmarks/blob_storage.py [--count 10] [--mb 20]

Stores ``count`` random blobs of ``mb`` MB inline in a DuckDB table and, separately,
through covalent-ray's ``BlobStore`` (inline up to 256 KiB, files above), and prints the
time each takes and how much the database file grows. The result manager writes through
one thread, so seconds spent writing a large blob into DuckDB stall every other write.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()

    import duckdb

    from covalent_ray.storage import repository as repo
    from covalent_ray.storage.blobs import BlobStore

    blobs = {f"key{i}": os.urandom(args.mb * 1_000_000) for i in range(args.count)}
    total_mb = args.count * args.mb
    with tempfile.TemporaryDirectory() as tmp:
        inline_db = Path(tmp) / "inline.duckdb"
        con = duckdb.connect(str(inline_db))
        con.execute("CREATE TABLE b (k VARCHAR PRIMARY KEY, data BLOB)")
        start = time.perf_counter()
        for key, data in blobs.items():
            con.execute("INSERT INTO b VALUES (?, ?)", [key, data])
        con.execute("CHECKPOINT")
        inline_s = time.perf_counter() - start
        inline_mb = inline_db.stat().st_size / 1e6
        con.close()

        store_db = Path(tmp) / "store.duckdb"
        con = repo.connect(store_db)
        con.execute("CHECKPOINT")
        empty_mb = store_db.stat().st_size / 1e6
        store = BlobStore(Path(tmp) / "objects")
        start = time.perf_counter()
        store.put_many(con, blobs)
        con.execute("CHECKPOINT")
        store_s = time.perf_counter() - start
        store_mb = store_db.stat().st_size / 1e6 - empty_mb
        con.close()

    print(f"{args.count} blobs of {args.mb} MB ({total_mb} MB):")
    print(f"  inline in DuckDB : {inline_s:6.2f} s, database file {inline_mb:7.1f} MB")
    print(f"  BlobStore (files): {store_s:6.2f} s, database file grew {store_mb:5.1f} MB")


if __name__ == "__main__":
    main()
