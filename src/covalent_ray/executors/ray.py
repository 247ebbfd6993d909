"""``RayExecutor``: the electron runs as a Ray task with the Ray options given.

This class only holds settings. The runtime submits an electron that uses it as a Ray
task with ``.options(**executor.ray_options())``, so it lands only on a node that has the
CPUs, GPUs, memory and custom resources asked for, inside its ``runtime_env`` (pip
packages, environment variables, ``working_dir``). No adaptor actor is involved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import BaseExecutor

EXECUTOR_PLUGIN_NAME = "RayExecutor"

# Keyword arguments the base constructor takes (Covalent's), as opposed to Ray options.
_BASE_ARGS = ("log_stdout", "log_stderr", "cache_dir", "time_limit", "retries", "max_concurrency")


class RayExecutor(BaseExecutor):
    """Run the electron as a Ray task with these resources and options.

    ``num_cpus``, ``num_gpus``, ``memory`` (bytes), ``resources`` (custom resources, e.g.
    ``{"special": 1}``) and ``runtime_env`` are Ray's task options of the same names; any
    other keyword (``max_retries``, ``scheduling_strategy``, ``accelerator_type``,
    ``label_selector``, ...) is passed to ``.options()`` as given, except Covalent's base
    arguments (``log_stdout``, ``log_stderr``, ``cache_dir``, ``time_limit``, ``retries``).
    Ray validates the options when the electron is submitted.
    """

    max_concurrency = 1_000_000  # not served by an adaptor: each electron is its own Ray task

    def __init__(
        self,
        num_cpus: float | None = None,
        num_gpus: float | None = None,
        memory: float | None = None,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        **ray_options: Any,
    ) -> None:
        base = {k: ray_options.pop(k) for k in _BASE_ARGS if k in ray_options}
        super().__init__(**base)
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.memory = memory
        self.resources = dict(resources) if resources else None
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.extra_options = dict(ray_options)

    def ray_options(self) -> dict[str, Any]:
        """The keyword arguments for ``remote_function.options(...)`` (unset ones left out)."""
        options: dict[str, Any] = {}
        for name in ("num_cpus", "num_gpus", "memory", "resources", "runtime_env"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        options.update(self.extra_options)
        return options

    def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Call the function here (only used when the executor is run outside the runtime)."""
        return function(*args, **kwargs)
