"""RayExecutor (settings for a Ray task) and DaskExecutor (the default marker)."""

from __future__ import annotations

from typing import Any

import pytest

import covalent_ray as ct
from covalent_ray.executors import DaskExecutor, RayExecutor, registry
from covalent_ray.executors.base import config_key
from covalent_ray.runtime.executor_calls import run_task_sync


def test_ray_options_hold_only_what_was_set() -> None:
    executor = RayExecutor(
        num_cpus=2,
        resources={"special": 1},
        runtime_env={"env_vars": {"A": "1"}},
        max_retries=0,
        retries=3,
        log_stdout="out.txt",
    )
    assert executor.ray_options() == {
        "num_cpus": 2,
        "resources": {"special": 1},
        "runtime_env": {"env_vars": {"A": "1"}},
        "max_retries": 0,
    }
    # Covalent's base arguments stay out of the Ray options.
    assert (executor.retries, executor.log_stdout) == (3, "out.txt")
    assert RayExecutor().ray_options() == {}
    assert RayExecutor(num_gpus=1, memory=2**30).ray_options() == {"num_gpus": 1, "memory": 2**30}


def test_ray_accepts_the_options() -> None:
    import ray

    def f() -> int:
        return 1

    options = RayExecutor(
        num_cpus=0.5,
        num_gpus=0,
        memory=10**6,
        resources={"special": 1},
        runtime_env={"env_vars": {"X": "y"}},
        max_retries=1,
        scheduling_strategy="SPREAD",
    ).ray_options()
    ray.remote(f).options(**options)  # Ray validates option names and values here
    with pytest.raises(ValueError):
        ray.remote(f).options(**RayExecutor(not_a_ray_option=1).ray_options())


def test_different_resources_mean_different_adaptor_keys() -> None:
    assert config_key(RayExecutor(num_cpus=1)) == config_key(RayExecutor(num_cpus=1))
    assert config_key(RayExecutor(num_cpus=1)) != config_key(RayExecutor(num_gpus=1))


def test_outside_the_runtime_they_call_the_function() -> None:
    meta: dict[str, Any] = {"dispatch_id": "d", "node_id": 0}
    assert run_task_sync(RayExecutor(num_cpus=1), max, [3, 9], {}, meta) == 9
    assert run_task_sync(DaskExecutor(), min, [3, 9], {}, meta) == 3


def test_dask_is_the_default_and_accepts_covalent_arguments() -> None:
    executor = ct.executor.DaskExecutor(scheduler_address="tcp://127.0.0.1:8786", conda_env="ml")
    assert registry.is_default(executor) and registry.resolve(executor) is None
    assert not registry.is_default(RayExecutor())
