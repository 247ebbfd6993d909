"""``DaskExecutor``: the default executor, Dask-on-Ray.

Electrons with no executor, ``executor="dask"`` or ``executor=DaskExecutor()`` are
submitted through ``ray.util.dask``'s scheduler, and dask collections computed inside
them run on Ray too. The registry resolves all three to ``None`` ("the default").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import BaseExecutor

EXECUTOR_PLUGIN_NAME = "DaskExecutor"


class DaskExecutor(BaseExecutor):
    """The default executor (Dask-on-Ray).

    Covalent's arguments (``scheduler_address``, ``conda_env``, ...) are accepted so
    existing code keeps working, and ignored: electrons run on the Ray cluster covalent-ray
    uses, not on a separate Dask cluster.
    """

    is_default = True

    def __init__(
        self,
        scheduler_address: str = "",
        conda_env: str = "",
        current_env_on_conda_fail: bool = False,
        workdir: str = "",
        create_unique_workdir: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.scheduler_address = scheduler_address
        self.conda_env = conda_env
        self.current_env_on_conda_fail = current_env_on_conda_fail
        self.workdir = workdir
        self.create_unique_workdir = create_unique_workdir

    def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Call the function here (only used when the executor is run outside the runtime)."""
        return function(*args, **kwargs)
