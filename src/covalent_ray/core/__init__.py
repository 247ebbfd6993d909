"""Pure logic over plain data: the transport graph, its compilation into a task plan, and
the rules that decide a dispatch's outcome. Nothing here imports Ray, DuckDB or user code."""
