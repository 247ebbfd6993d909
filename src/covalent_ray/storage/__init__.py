"""The result store: DuckDB tables and the functions that read and write them (a
repository layer: functions that take a connection), the stored objects beside the
database, and SQL over the result views (``storage.sql``).

Only the result manager actor opens the database for writing (DuckDB allows one
read-write process per file); everything else reads through it.
May import: the leaf modules and ``core``.
"""
