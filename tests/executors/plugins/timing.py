"""An executor plugin written for Covalent, ported by changing its imports only.

It calls the electron in the executor's own process and appends how long it took to a
file, one line per electron: ``<dispatch_id> <node_id> <seconds>``.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# For Covalent this read: from covalent._shared_files.exceptions import TaskRuntimeError
from covalent_ray.executors import TaskRuntimeError

# For Covalent this read: from covalent.executor.base import BaseExecutor
from covalent_ray.executors.base import BaseExecutor

EXECUTOR_PLUGIN_NAME = "TimingExecutor"

_EXECUTOR_PLUGIN_DEFAULTS = {"timing_filepath": "timings.txt"}


class TimingExecutor(BaseExecutor):
    """Times each electron it runs."""

    def __init__(self, timing_filepath: str = "", **kwargs):
        self.timing_filepath = str(Path(timing_filepath).expanduser().resolve())
        super().__init__(**kwargs)

    def run(self, function: Callable, args: list, kwargs: dict, task_metadata: dict) -> Any:
        started = time.perf_counter()
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            raise TaskRuntimeError(f"{self.short_name()} task failed: {error}") from error
        elapsed = time.perf_counter() - started
        with open(self.timing_filepath, "a") as f:
            f.write(f"{task_metadata['dispatch_id']} {task_metadata['node_id']} {elapsed:.6f}\n")
        return result
