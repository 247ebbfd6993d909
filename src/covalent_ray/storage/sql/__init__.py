"""SQL over results: the stable relational views, and the sandbox user queries run in.

The package's rooms: :mod:`.views` (the views' declarations), :mod:`.policy` (what a query
may do, and the limits), :mod:`.protocol` (frames between the result manager and the
worker, and errors as data: :func:`check_answer` is the one way an answer becomes an
exception, for the storage layer, the SDK and the API alike), :mod:`.worker` (the
sandbox process) and :mod:`.service` (the result manager's side). May import: the leaf
modules.

The views
---------
:data:`VIEWS` is the documented, stable relational face of the results database:
``dispatches``, ``electrons``, ``edges``, ``electron_inputs`` and ``attempts``. Each column is
declared once, with its type, its meaning and the expression that computes it from the base
tables (``storage/schema.py``), so the base tables can change without breaking a user's
query, and the README's column tables are generated from the same declarations (a test
keeps them equal). Values appear as JSON where they are made of JSON types and as their
readable ``repr`` (a JSON string) otherwise, so ``json_extract`` and ``->>`` reach inside
every input and output. Times are UTC ``TIMESTAMP``\\ s; durations are seconds.

The sandbox
-----------
A user query never runs on the result manager's database. DuckDB's safety switches are
per database instance (the result manager itself needs Arrow registrations, INSERT and
UPDATE for its writes), and its ``memory_limit`` does not cover everything a query can
allocate (``SELECT range(300000000)`` takes gigabytes regardless), so a query running
inside the result manager could read files, change settings or take the only writer of
the database down with it. Instead:

1. **A separate worker process** (started by the result manager on first use, restarted
   on demand) holds a *copy* of the views, as plain tables in its own private DuckDB
   file (under ``<home>/sql-sandbox/``, removed with the worker). It has a minimal
   environment (no Ray token), an address-space limit (a memory bomb fails there, not
   in the result manager) and a file-size limit.
2. **The copy is refreshed before every query**: in one read transaction, the result
   manager compares every dispatch's status with what the copy holds and re-copies
   only dispatches that are new, changed, deleted or not yet finished (a finished
   dispatch never changes again). Queries therefore see everything committed before they
   started, and the result manager keeps writing meanwhile: it only reads.
3. **The worker's DuckDB is locked down before any query**: ``enable_external_access``
   off (no file, URL, ``ATTACH``, ``COPY``, replacement scan or extension install),
   extension autoloading off, then ``lock_configuration`` so no later statement can
   change a setting. It has one thread, a memory limit and a bounded spill directory.
4. **Every query is checked before it runs**, by DuckDB's own parser (so the check and
   the execution cannot disagree on what the text means): exactly one statement, of type
   SELECT (``EXPLAIN``, ``PRAGMA``, ``SET``, ``COPY``, ``ATTACH``, ``EXPORT``,
   ``INSTALL``/``LOAD``, ``CALL``, DDL and DML are refused); in its syntax tree, every
   relation is a view or a CTE of the query visible where it is named (names resolve
   with their scope, so a CTE cannot shadow a catalog view and read it in its own
   body), every table function is in :data:`ALLOWED_TABLE_FUNCTIONS` (``range``,
   ``unnest``, ``json_each``...; no
   ``read_csv``, ``query``, ``duckdb_settings``...), and no function reaches settings,
   variables, sequences, logs, the catalog or the clock of the process
   (:data:`DENIED_FUNCTIONS`). A refused query raises :class:`QueryRejectedError` with
   the reason and changes nothing.
5. **Rows, bytes and time are bounded**: results stream and stop at ``max_rows`` rows or
   :attr:`SqlLimits.max_bytes` (the answer says it was truncated); a query running past
   its timeout is interrupted (``QueryError``: "interrupted after N s"), and a worker
   that does not stop within a grace period after that is killed and restarted.

Limits of the design: the views must fit in the worker's spill-backed database (its file
is discarded with the worker, so a new worker copies everything again); the first query
after a start copies everything (about a second per 100 000 electrons on two cores); a
query can still use one CPU for its whole timeout; and a killed worker fails the other
queries it was running at that moment (they can simply be retried).
"""

from .policy import ALLOWED_TABLE_FUNCTIONS, DENIED_FUNCTIONS, SqlLimits, check_query
from .protocol import arrow_to_ipc, check_answer, error_of, ipc_to_arrow, raise_error
from .service import SqlService, answer, default_root
from .views import VIEWS, Column, View, schema, schema_markdown
from .worker import serve_worker

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "VIEWS",
    "Column",
    "SqlLimits",
    "SqlService",
    "View",
    "answer",
    "arrow_to_ipc",
    "check_answer",
    "check_query",
    "default_root",
    "error_of",
    "ipc_to_arrow",
    "raise_error",
    "schema",
    "schema_markdown",
    "serve_worker",
]
