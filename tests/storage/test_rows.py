"""The translation of a manifest and of electron events into rows (pure)."""

from __future__ import annotations

import pickle
from datetime import datetime

import covalent_ray as ct
from covalent_ray.storage import repository as repo
from covalent_ray.storage.rows import (
    apply_event,
    attempt_row,
    manifest_blob_keys,
    registration_rows,
    timestamp,
)


@ct.electron
def add(a, b):
    return a + b


@ct.lattice
def pair(x):
    return add(x, 1), add(x, 2)


NOW = datetime(2026, 1, 2, 3, 4, 5)


def test_a_manifest_becomes_a_running_dispatch_with_its_nodes_and_edges() -> None:
    manifest = pair.manifest((5,), {})
    rows = registration_rows(manifest, None, NOW)
    d = rows.dispatch
    assert d["dispatch_id"] == d["root_dispatch_id"] == manifest.dispatch_id
    assert (d["status"], d["created_at"], d["start_time"]) == ("RUNNING", NOW, NOW)
    assert d["num_nodes"] == len(manifest.graph.nodes) == len(rows.nodes)
    assert (d["executor"], d["workflow_executor"]) == ("dask", "dask")
    assert set(d) <= set(repo.DISPATCH_COLUMNS)
    assert rows.skeleton_key in d["blob_keys"] and set(manifest.blobs) <= set(d["blob_keys"])
    skeleton = pickle.loads(rows.skeleton_data)
    assert skeleton.blobs == {} and skeleton.dispatch_id == manifest.dispatch_id
    by_kind = {}
    for n in rows.nodes:
        assert set(n) == set(repo.NODE_COLUMNS)
        by_kind.setdefault(n["kind"], []).append(n)
    assert [n["status"] for n in by_kind["electron"]] == ["NEW_OBJECT"] * 2
    assert {n["executor"] for n in by_kind["electron"]} == {"dask"}
    for p in by_kind["parameter"]:  # parameters are known at once
        assert (p["status"], p["start_time"], p["end_time"]) == ("COMPLETED", NOW, NOW)
        assert p["output_blob"] and p["executor"] is None
    assert rows.states == {
        n["node_id"]: {c: n[c] for c in repo.NODE_STATE_COLUMNS} for n in rows.nodes
    }
    assert len(rows.edges) == len(manifest.graph.edges)
    assert all(set(e) == set(repo.EDGE_COLUMNS) for e in rows.edges)


def test_reused_electrons_are_stored_completed_with_the_earlier_output() -> None:
    manifest = pair.manifest((5,), {})
    electron = next(n.id for n in manifest.graph.nodes if n.kind.value == "electron")
    reused = {electron: {"output_blob": "k", "output_repr": "6", "reused_from": "old"}}
    state = registration_rows(manifest, reused, NOW).states[electron]
    assert state["status"] == "COMPLETED" and state["start_time"] == state["end_time"] == NOW
    assert (state["output_blob"], state["reused_from"]) == ("k", "old")


def test_an_event_never_moves_a_node_back() -> None:
    state = {c: None for c in repo.NODE_STATE_COLUMNS} | {"status": "NEW_OBJECT"}
    assert apply_event(state, {"status": "COMPLETED", "end_time": 0.0, "output_repr": "6"})
    assert state["end_time"] == timestamp(0.0) == datetime(1970, 1, 1)
    assert not apply_event(state, {"status": "RUNNING", "output_repr": "late"})
    assert (state["status"], state["output_repr"]) == ("COMPLETED", "6")


def test_attempt_rows_and_the_blobs_a_stored_manifest_needs() -> None:
    row = attempt_row("d", 3, {"attempt": 1, "status": "FAILED", "start_time": 0.0})
    assert row["dispatch_id"] == "d" and row["node_id"] == 3 and row["end_time"] is None
    manifest = pair.manifest((5,), {})
    keys = manifest_blob_keys(manifest)
    assert manifest.inputs in keys and manifest.output_template in keys
    assert {n.function for n in manifest.graph.nodes if n.function} <= set(keys)
    assert set(keys) <= set(manifest.blobs)
