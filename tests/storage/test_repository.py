from __future__ import annotations

from pathlib import Path

import pytest

from covalent_ray.storage import repository as repo
from covalent_ray.storage.blobs import BlobStore
from covalent_ray.storage.schema import SCHEMA_VERSION, SchemaTooNewError, current_version, migrate


@pytest.fixture
def con(tmp_path: Path):
    c = repo.connect(tmp_path / "r.duckdb")
    yield c
    c.close()


def _dispatch(did: str, status: str = "RUNNING", name: str = "wf") -> dict:
    return dict(
        dispatch_id=did,
        root_dispatch_id=did,
        name=name,
        status=status,
        created_at=repo.now(),
        num_nodes=3,
    )


def _nodes(did: str, n: int) -> list[dict]:
    return [
        dict(
            dispatch_id=did,
            node_id=i,
            name=f"f{i}",
            kind="electron",
            status="NEW_OBJECT",
            attempt=0,
        )
        for i in range(n)
    ]


def test_new_database_is_at_current_version(con) -> None:
    assert current_version(con) == SCHEMA_VERSION
    assert migrate(con) == SCHEMA_VERSION  # idempotent


def test_newer_database_is_refused(con) -> None:
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(SchemaTooNewError, match="upgrade covalent-ray"):
        migrate(con)


def test_insert_is_idempotent_and_updates_in_bulk(con) -> None:
    assert repo.insert_dispatch(con, _dispatch("a"), _nodes("a", 100), [])
    assert not repo.insert_dispatch(con, _dispatch("a"), _nodes("a", 100), [])
    states = [
        {
            "dispatch_id": "a",
            "node_id": i,
            "status": "COMPLETED",
            "output_repr": str(i),
            "attempt": 1,
        }
        for i in range(0, 100, 2)
    ]
    repo.update_nodes(con, states)  # bulk path
    repo.update_nodes(
        con, [{"dispatch_id": "a", "node_id": 1, "status": "FAILED", "error": "boom", "attempt": 1}]
    )  # small path
    rows = repo.get_nodes(con, "a")
    assert len(rows) == 100
    assert [r["status"] for r in rows[:4]] == ["COMPLETED", "FAILED", "COMPLETED", "NEW_OBJECT"]
    assert rows[1]["error"] == "boom" and rows[4]["output_repr"] == "4"
    assert repo.node_status_counts(con, ["a"]) == {
        "a": {"COMPLETED": 50, "FAILED": 1, "NEW_OBJECT": 49}
    }


def test_list_filters_sorts_and_pages(con) -> None:
    for i, (status, name) in enumerate(
        [("COMPLETED", "sweep"), ("FAILED", "sweep"), ("RUNNING", "other")]
    ):
        repo.insert_dispatch(con, _dispatch(f"d{i}", status, name), [], [])
    rows, total = repo.list_dispatches(con, status=["COMPLETED", "FAILED"])
    assert total == 2 and {r["dispatch_id"] for r in rows} == {"d0", "d1"}
    rows, total = repo.list_dispatches(
        con, name="SWE", limit=1, sort="created_at", descending=False
    )
    assert total == 2 and [r["dispatch_id"] for r in rows] == ["d0"]
    assert repo.count_by_status(con) == {"COMPLETED": 1, "FAILED": 1, "RUNNING": 1}
    assert [r["dispatch_id"] for r in repo.unfinished_dispatches(con)] == ["d2"]
    with pytest.raises(ValueError, match="cannot sort"):
        repo.list_dispatches(con, sort="error; DROP TABLE dispatches")


def test_list_filters_by_creation_time_and_executor(con) -> None:
    from datetime import timedelta

    t0 = repo.now()
    for i, executor in enumerate(["local", "dask", "local"]):
        row = dict(_dispatch(f"t{i}"), created_at=t0 + timedelta(hours=i), executor=executor)
        nodes = _nodes(f"t{i}", 2)
        nodes[1]["executor"] = "slurm" if i == 2 else executor
        repo.insert_dispatch(con, row, nodes, [])
    ids = lambda rows: sorted(r["dispatch_id"] for r in rows[0])  # noqa: E731
    assert ids(repo.list_dispatches(con, since=t0 + timedelta(hours=1))) == ["t1", "t2"]
    assert ids(repo.list_dispatches(con, until=t0 + timedelta(hours=1))) == ["t0"]
    window = dict(since=t0 + timedelta(minutes=30), until=t0 + timedelta(minutes=90))
    assert ids(repo.list_dispatches(con, **window)) == ["t1"]
    assert ids(repo.list_dispatches(con, executor="dask")) == ["t1"]
    # an electron's own executor counts, not only the lattice's
    assert ids(repo.list_dispatches(con, executor="slurm")) == ["t2"]
    assert ids(repo.list_dispatches(con, executor="local")) == ["t0", "t2"]
    assert repo.list_dispatches(con, executor="nowhere") == ([], 0)


def test_small_blobs_inline_large_ones_in_files(con, tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "objects", inline_limit=1000)
    store.put_many(con, {"small": b"s" * 10, "large": b"L" * 5000})
    store.put_many(con, {"small": b"s" * 10})  # already stored: nothing happens
    assert store.get(con, "small") == b"s" * 10
    assert store.get(con, "large") == b"L" * 5000
    files = list((tmp_path / "objects").rglob("large"))
    assert len(files) == 1 and files[0].stat().st_size == 5000
    inline = con.execute(
        "SELECT data IS NOT NULL, path IS NULL FROM blobs WHERE key='small'"
    ).fetchone()
    assert inline == (True, True)
    doomed = store.delete_unreferenced(con, "SELECT 'small'")
    assert doomed == [str(files[0])] and files[0].exists()  # removed only after commit
    store.remove_files(doomed)
    assert store.get(con, "large") is None and not files[0].exists()
    assert store.get(con, "small") == b"s" * 10


def test_family_and_delete(con) -> None:
    repo.insert_dispatch(
        con, dict(_dispatch("root", "COMPLETED"), blob_keys=["k1", "k3"]), _nodes("root", 2), []
    )
    child = dict(
        _dispatch("child", "COMPLETED"), parent_dispatch_id="root", root_dispatch_id="root"
    )
    grandchild = dict(
        _dispatch("grand", "COMPLETED"), parent_dispatch_id="child", root_dispatch_id="root"
    )
    repo.insert_dispatch(con, child, _nodes("child", 1), [])
    repo.insert_dispatch(con, grandchild, [], [])
    repo.insert_dispatch(
        con, dict(_dispatch("other", "COMPLETED"), blob_keys=["k1"]), _nodes("other", 1), []
    )
    assert sorted(repo.family(con, ["root"])) == ["child", "grand", "root"]
    repo.delete_dispatches(con, repo.family(con, ["root"]))
    assert repo.list_dispatches(con)[1] == 1
    assert repo.get_nodes(con, "child") == []
    kept = {r[0] for r in con.execute(repo.REFERENCED_BLOBS).fetchall()}
    assert kept == {"k1"}  # still used by "other"


def test_files_written_elsewhere_are_recorded_and_left_to_their_reader(con, tmp_path: Path) -> None:
    from covalent_ray.storage.blobs import write_blob_file

    root = tmp_path / "objects"
    store = BlobStore(root, inline_limit=1000)
    path = write_blob_file(root, "big", b"B" * 5000)  # as a worker writes a large output
    store.put_many(con, {"small": b"s" * 10}, {"big": (5000, path)})
    assert con.execute("SELECT size, data IS NULL, path FROM blobs WHERE key='big'").fetchone() == (
        5000,
        True,
        path,
    )
    assert store.get(con, "big") == b"B" * 5000
    small, large = store.get_small(con, ["small", "big"], limit=4000)
    assert small == {"small": b"s" * 10} and large == {"big": path}
    small, large = store.get_small(con, ["small", "big"], limit=10_000)
    assert small == {"small": b"s" * 10, "big": b"B" * 5000} and large == {}


def test_a_group_of_registrations_and_ends_is_written_in_a_few_statements(con) -> None:
    repo.insert_dispatch(con, _dispatch("old", "COMPLETED"), _nodes("old", 1), [])
    regs = [
        (
            _dispatch(f"d{i}"),
            _nodes(f"d{i}", 2),
            [
                dict(
                    dispatch_id=f"d{i}",
                    parent_node_id=0,
                    child_node_id=1,
                    kind="arg",
                    arg_index=0,
                    param_name=None,
                )
            ],
        )
        for i in range(40)  # more than one VALUES chunk
    ]
    regs.append((dict(_dispatch("x"), parent_dispatch_id="d0", parent_node_id=1), [], []))
    regs.append((_dispatch("old"), _nodes("old", 5), []))  # exists: left as it is
    regs.append((_dispatch("d0", name="again"), [], []))  # twice in one batch: first wins
    statements: list[str] = []
    traced = _Tracing(con, statements)
    assert repo.insert_dispatches(traced, regs) == [f"d{i}" for i in range(40)] + ["x"]
    assert len([s for s in statements if s.startswith("INSERT")]) <= 6
    assert con.execute("SELECT count(*) FROM electrons").fetchone() == (81,)
    assert con.execute("SELECT count(*) FROM edges").fetchone() == (40,)
    assert con.execute("SELECT name FROM dispatches WHERE dispatch_id='d0'").fetchone() == ("wf",)
    assert con.execute(
        "SELECT parent_dispatch_id FROM dispatches WHERE dispatch_id='x'"
    ).fetchone() == ("d0",)

    end = repo.now()
    updates = [
        (f"d{i}", {"status": "COMPLETED", "end_time": end, "error": None}) for i in range(40)
    ]
    updates.append(("d1", {"status": "FAILED", "error": "boom"}))  # a later update wins
    updates.append(("x", {"result_repr": "3"}))
    statements.clear()
    repo.update_dispatches(traced, updates)
    assert len(statements) <= 4
    rows = dict(con.execute("SELECT dispatch_id, status FROM dispatches").fetchall())
    assert rows["d0"] == "COMPLETED" and rows["d39"] == "COMPLETED" and rows["d1"] == "FAILED"
    assert rows["old"] == "COMPLETED" and rows["x"] == "RUNNING"
    assert con.execute(
        "SELECT error, end_time IS NOT NULL FROM dispatches WHERE dispatch_id='d1'"
    ).fetchone() == ("boom", True)
    assert con.execute("SELECT result_repr FROM dispatches WHERE dispatch_id='x'").fetchone() == (
        "3",
    )
    with pytest.raises(ValueError, match="unknown dispatch columns"):
        repo.update_dispatches(con, [("d0", {"nope": 1}), ("d1", {"nope": 2})])


class _Tracing:
    """A connection that records the statements run through it."""

    def __init__(self, con, statements: list[str]) -> None:
        self._con, self._statements = con, statements

    def execute(self, sql: str, *args):
        self._statements.append(sql.strip())
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_v4_database_gains_the_triggers_table_and_lineage_columns(tmp_path: Path) -> None:
    import duckdb

    from covalent_ray.storage.schema import MIGRATIONS

    c = duckdb.connect(str(tmp_path / "old.duckdb"))
    for statements in MIGRATIONS[:4]:
        for statement in statements:
            c.execute(statement)
    c.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    repo.insert_dispatch(c, _dispatch("old"), [], [])
    assert migrate(c) == 4 and current_version(c) == SCHEMA_VERSION
    assert repo.get_dispatch(c, "old")["triggered_by"] is None
    assert repo.list_triggers(c) == []
    c.close()


def test_triggers_are_stored_stopped_counted_and_deleted_with_their_dispatch(con) -> None:
    from covalent_ray.core.triggers import TriggerSpec, trigger_row

    repo.insert_dispatch(con, _dispatch("d1", status="COMPLETED"), [], [])
    spec = TriggerSpec("t1", "d1", "TimeTrigger", {"time_gap": 2}, b"pickled")
    assert repo.insert_trigger(con, trigger_row(spec, repo.now()))
    assert not repo.insert_trigger(con, trigger_row(spec, repo.now()))  # sent again: once
    repo.trigger_fired(con, "t1", repo.now(), None)
    repo.trigger_fired(con, "t1", repo.now(), "firing failed: boom")
    [row] = repo.list_triggers(con, state="active", data=True)
    assert (row["firings"], row["error"], row["trigger_data"]) == (
        2,
        "firing failed: boom",
        b"pickled",
    )
    assert repo.stop_triggers(con, ["d1", "unknown"], repo.now()) == ["t1"]
    assert repo.stop_triggers(con, ["d1"], repo.now()) == []  # already stopped
    assert repo.list_triggers(con, state="active") == []
    assert [t["state"] for t in repo.list_triggers(con, dispatch_id="d1")] == ["stopped"]
    repo.delete_dispatches(con, ["d1"])
    assert repo.list_triggers(con) == []
