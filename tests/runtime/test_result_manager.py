"""The result manager's bookkeeping, driven directly (no Ray): what a just-ended dispatch
answers from memory is exactly what the database holds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import covalent_ray as ct
from covalent_ray import _serialize
from covalent_ray.runtime.result_manager import ResultManager


@ct.electron
def add(a, b):
    return a + b


@ct.lattice
def pair(x):
    return add(x, 1), add(x, 2)


def _event(dispatch_id: str, node_id: int, value: Any, **extra: Any) -> dict[str, Any]:
    data = _serialize.dumps(value, "test output")
    now = time.time()
    return {
        "dispatch_id": dispatch_id,
        "node_id": node_id,
        "status": "COMPLETED",
        "start_time": now,
        "end_time": now,
        "output_data": data,
        "output_blob": _serialize.blob_key(data),
        "output_repr": repr(value),
        "output_json": str(value),
        "stdout": "out",
        "stderr": "",
        "attempt": 1,
        "ray_node_id": "node",
        "worker_pid": 123,
        "attempts": [
            {
                "attempt": 1,
                "status": "COMPLETED",
                "start_time": now,
                "end_time": now,
                "error": None,
                "ray_node_id": "node",
                "worker_pid": 123,
            }
        ],
        **extra,
    }


def test_an_ended_dispatch_answers_from_memory_what_the_database_holds(tmp_path: Path) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], str]:
        rm = ResultManager(str(tmp_path))
        manifest = pair.manifest((5,), {})
        did = manifest.dispatch_id
        assert await rm.register(manifest) is None  # newly registered
        assert await rm.register(manifest) == "RUNNING"  # again: changes nothing
        # events may arrive in any order; a late RUNNING never hides a COMPLETED
        await rm.record([_event(did, 0, 6)])
        await rm.record([{"dispatch_id": did, "node_id": 0, "status": "RUNNING"}])
        await rm.record([_event(did, 3, 7)])
        result = _serialize.dumps((6, 7), "result")
        await rm.complete(
            did,
            "COMPLETED",
            None,
            [],
            {
                "result_data": result,
                "result_blob": _serialize.blob_key(result),
                "result_repr": "(6, 7)",
                "result_json": "[6, 7]",
            },
        )
        from_memory = await rm.get_result(did)
        rm._recent.clear()
        from_database = await rm.get_result(did)
        await rm.close()
        return from_memory, from_database, did

    memory, database, did = asyncio.run(scenario())
    assert memory["dispatch"] == database["dispatch"]
    assert memory["dispatch"]["status"] == "COMPLETED"
    assert memory["nodes"] == database["nodes"]
    assert [n["status"] for n in memory["nodes"] if n["kind"] == "electron"] == ["COMPLETED"] * 2
    assert memory["blobs"] == database["blobs"]
    assert _serialize.loads(memory["blobs"][memory["dispatch"]["result_blob"]]) == (6, 7)


def test_registration_is_idempotent_across_a_restart(tmp_path: Path) -> None:
    """A registration re-sent to a restarted manager (or by a client retrying through a
    restart) finds the stored dispatch instead of creating it again."""

    async def scenario() -> tuple[str | None, str | None, int]:
        manifest = pair.manifest((5,), {})
        rm = ResultManager(str(tmp_path))
        assert await rm.register(manifest) is None
        await rm.abort(manifest.dispatch_id, "CANCELLED", "cancelled by the user", True)
        await rm.close()
        again = ResultManager(str(tmp_path))  # a new process: nothing in memory
        ended = await again.register(manifest, check=True)
        other = pair.manifest((6,), {})
        fresh = await again.register(other, check=True)
        listed = await again.list_dispatches()
        await again.close()
        return ended, fresh, listed["total"]

    ended, fresh, total = asyncio.run(scenario())
    assert ended == "CANCELLED"
    assert fresh is None
    assert total == 2
