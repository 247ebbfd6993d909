"""The result store: DuckDB tables and the functions that read and write them.

Only the result manager actor opens the database for writing (DuckDB allows one
read-write process per file); everything else reads through it.
"""
