"""The database schema, its version, and the migrations between versions.

Policy: the schema is created by applying every migration in order to an empty
database; ``meta.schema_version`` records how far a database has come. Opening a database
applies the missing migrations in one transaction. A database newer than this code is
refused rather than guessed at.

Times are UTC ``TIMESTAMP``s. Values are stored three ways: a blob key into ``blobs``
(cloudpickle, the exact object), a bounded ``repr`` for reading, and JSON where the value
is made only of JSON types (for ``json_extract`` in SQL).
"""

from __future__ import annotations

from typing import Any

from .transaction import transaction

SCHEMA_VERSION = 5

_V1 = [
    """
    CREATE TABLE IF NOT EXISTS meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    )
    """,
    """
    CREATE TABLE dispatches (
        dispatch_id VARCHAR PRIMARY KEY,
        root_dispatch_id VARCHAR NOT NULL,
        parent_dispatch_id VARCHAR,
        parent_node_id INTEGER,
        name VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        start_time TIMESTAMP,
        end_time TIMESTAMP,
        error VARCHAR,
        num_nodes INTEGER NOT NULL,
        inputs_blob VARCHAR,
        inputs_repr VARCHAR,
        inputs_json JSON,
        result_blob VARCHAR,
        result_repr VARCHAR,
        result_json JSON,
        lattice_blob VARCHAR,
        lattice_source VARCHAR,
        lattice_doc VARCHAR,
        manifest_blob VARCHAR,
        executor VARCHAR,
        workflow_executor VARCHAR
    )
    """,
    """
    CREATE TABLE electrons (
        dispatch_id VARCHAR NOT NULL,
        node_id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        executor VARCHAR,
        start_time TIMESTAMP,
        end_time TIMESTAMP,
        output_blob VARCHAR,
        output_repr VARCHAR,
        output_json JSON,
        error VARCHAR,
        stdout VARCHAR,
        stderr VARCHAR,
        ray_node_id VARCHAR,
        worker_pid INTEGER,
        attempt INTEGER NOT NULL DEFAULT 0,
        sub_dispatch_id VARCHAR,
        PRIMARY KEY (dispatch_id, node_id)
    )
    """,
    """
    CREATE TABLE edges (
        dispatch_id VARCHAR NOT NULL,
        parent_node_id INTEGER NOT NULL,
        child_node_id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        arg_index INTEGER,
        param_name VARCHAR
    )
    """,
    """
    CREATE TABLE blobs (
        key VARCHAR PRIMARY KEY,
        size BIGINT NOT NULL,
        data BLOB,
        path VARCHAR
    )
    """,
    "CREATE INDEX dispatches_status ON dispatches (status)",
    "CREATE INDEX edges_dispatch ON edges (dispatch_id)",
]

# v2: every attempt of an electron is kept (retries, timeouts, re-runs after a crash), and
# an electron whose stored output was reused by a redispatch says where it came from.
_V2 = [
    "ALTER TABLE electrons ADD COLUMN reused_from VARCHAR",
    """
    CREATE TABLE attempts (
        dispatch_id VARCHAR NOT NULL,
        node_id INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        status VARCHAR NOT NULL,
        start_time TIMESTAMP,
        end_time TIMESTAMP,
        error VARCHAR,
        ray_node_id VARCHAR,
        worker_pid INTEGER
    )
    """,
    "CREATE INDEX attempts_node ON attempts (dispatch_id, node_id)",
]

# v3: each dispatch lists the blobs its manifest uses (functions and values are shared
# between dispatches by content), so deleting dispatches can remove the blobs nothing
# uses any more. Blobs stored before v3 are kept, whoever used them.
_V3 = [
    "ALTER TABLE dispatches ADD COLUMN blob_keys VARCHAR[]",
    "CREATE TABLE kept_blobs AS SELECT key FROM blobs",
]

# v4: an electron on a remote executor (SSH, Slurm) keeps its job handle (the remote
# process, the Slurm job ID) and the host it runs on, so a restarted service finds the job.
_V4 = [
    "ALTER TABLE electrons ADD COLUMN job_handle VARCHAR",
    "ALTER TABLE electrons ADD COLUMN remote_host VARCHAR",
]

# v5: triggers. A dispatch started by a trigger's firing says which dispatch the trigger
# belongs to (``triggered_by``) and which trigger fired (``trigger_id``); the triggers
# themselves are kept (cloudpickled, with their state) so a restarted service runs them.
_V5 = [
    "ALTER TABLE dispatches ADD COLUMN triggered_by VARCHAR",
    "ALTER TABLE dispatches ADD COLUMN trigger_id VARCHAR",
    """
    CREATE TABLE triggers (
        trigger_id VARCHAR PRIMARY KEY,
        dispatch_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        settings JSON,
        trigger_data BLOB NOT NULL,
        state VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        stopped_at TIMESTAMP,
        firings INTEGER NOT NULL DEFAULT 0,
        last_fired_at TIMESTAMP,
        error VARCHAR
    )
    """,
    "CREATE INDEX triggers_dispatch ON triggers (dispatch_id)",
]

#: migrations[i] takes a database from version i to version i + 1
MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5]


class SchemaTooNewError(RuntimeError):
    """The database was written by a newer covalent-ray."""


def current_version(con: Any) -> int:
    """The schema version of the database behind ``con`` (0 when empty)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: Any) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; return the version found."""
    found = current_version(con)
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"the results database has schema version {found}, newer than this "
            f"covalent-ray understands ({SCHEMA_VERSION}); upgrade covalent-ray."
        )
    if found == SCHEMA_VERSION:
        return found
    with transaction(con):
        for version in range(found, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
        )
    return found
