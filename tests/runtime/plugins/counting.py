"""A Covalent-style executor that records its lifecycle in files (for the adaptor tests)."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from covalent_ray.executors.base import BaseExecutor

EXECUTOR_PLUGIN_NAME = "CountingExecutor"


class CountingExecutor(BaseExecutor):
    """Runs electrons in the adaptor's process; appends to <logdir>/{setup,run,teardown}."""

    def __init__(self, logdir: str = "", **kwargs: Any) -> None:
        self.logdir = logdir
        super().__init__(**kwargs)

    def _log(self, what: str, text: str) -> None:
        with open(Path(self.logdir) / what, "a") as f:
            f.write(text + "\n")

    def setup(self, task_metadata: dict) -> None:
        self._log("setup", str(os.getpid()))

    def run(self, function: Callable, args: list, kwargs: dict, task_metadata: dict) -> Any:
        self._log("run", f"{task_metadata['node_id']} {os.getpid()}")
        return function(*args, **kwargs)

    def teardown(self, task_metadata: dict) -> None:
        self._log("teardown", str(os.getpid()))
