"""Pure logic over plain data: the transport graph, its compilation into a task plan, the
rules that decide a dispatch's outcome, redispatch reuse, the glue nodes' operators, the
running electron's context and the records that cross process boundaries.

Nothing here imports Ray, DuckDB, FastAPI or user code, and everything is tested without
them. May import: the leaf modules (``_status``, ``_exceptions``, ``_serialize``, ...) only.
"""
