"""An async executor plugin in the shape of Covalent's cloud plugins, ported by imports only.

It "submits" the electron as a job (a thread standing in for a remote queue), records the
job id with ``set_job_handle``, polls until the job ends and honours cancellation both
ways Covalent offers: ``cancel(task_metadata, job_handle)`` and ``get_cancel_requested()``.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

# For Covalent: from covalent._shared_files.exceptions import TaskCancelledError, TaskRuntimeError
from covalent_ray.executors import TaskCancelledError, TaskRuntimeError

# For Covalent: from covalent.executor.base import AsyncBaseExecutor
from covalent_ray.executors.base import AsyncBaseExecutor

EXECUTOR_PLUGIN_NAME = "PollingExecutor"

_EXECUTOR_PLUGIN_DEFAULTS = {"poll_freq": 0.01}


class PollingExecutor(AsyncBaseExecutor):
    """Runs each electron as a pretend remote job and polls it."""

    def __init__(self, poll_freq: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.poll_freq = poll_freq
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.setups = 0
        self.teardowns = 0

    def config(self) -> dict[str, Any]:
        return {"poll_freq": self.poll_freq}

    async def setup(self, task_metadata: dict) -> None:
        self.setups += 1

    async def teardown(self, task_metadata: dict) -> None:
        self.teardowns += 1

    def _submit(self, job_id: str, function: Callable, args: list, kwargs: dict) -> None:
        job = {"status": "RUNNING", "result": None, "error": None}
        with self._lock:
            self._jobs[job_id] = job

        def work() -> None:
            try:
                job["result"] = function(*args, **kwargs)
                job["status"] = "DONE"
            except Exception as error:
                job["error"] = error
                job["status"] = "FAILED"

        threading.Thread(target=work, daemon=True).start()

    async def run(self, function: Callable, args: list, kwargs: dict, task_metadata: dict) -> Any:
        job_id = f"{task_metadata['dispatch_id']}:{task_metadata['node_id']}"
        self._submit(job_id, function, args, kwargs)
        await self.set_job_handle(job_id)
        while True:
            job = self._jobs[job_id]
            if job["status"] == "CANCELLED" or await self.get_cancel_requested():
                raise TaskCancelledError(f"job {job_id} was cancelled")
            if job["status"] == "FAILED":
                raise TaskRuntimeError(f"job {job_id} failed: {job['error']}")
            if job["status"] == "DONE":
                self.task_stdout.write(f"job {job_id} done\n")
                return job["result"]
            await asyncio.sleep(self.poll_freq)

    async def cancel(self, task_metadata: dict, job_handle: Any) -> bool:
        with self._lock:
            job = self._jobs.get(job_handle)
            if job is None or job["status"] != "RUNNING":
                return False
            job["status"] = "CANCELLED"
        return True
