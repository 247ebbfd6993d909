"""Calling an executor's methods for one electron: sync and async executors alike, with
the electron's :class:`~covalent_ray.executors.base.TaskControl` installed.

These are the adaptor's tools (``runtime.adaptor``); tests and scripts that drive an
executor without Ray use the ``*_sync`` forms.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from ..executors.base import AnyExecutor, BaseExecutor, TaskControl, current_control, use_control


async def call_executor(
    executor: AnyExecutor,
    method: str,
    *args: Any,
    control: TaskControl | None = None,
    pool: Executor | None = None,
) -> Any:
    """Call ``executor.<method>(*args)`` from an event loop, sync or async alike.

    A synchronous method runs in ``pool`` (the loop's default pool if None) with the
    caller's context, so ``control`` (installed for the call when given) is visible to it.
    Give adaptors a pool of at least ``max_concurrency`` threads plus one for ``cancel``:
    a sync ``run`` holds its thread until the electron ends.
    """
    import asyncio
    import functools
    import inspect

    bound = getattr(executor, method)
    token = current_control.set(control) if control is not None else None
    try:
        if inspect.iscoroutinefunction(bound):
            return await bound(*args)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        result = await loop.run_in_executor(pool, functools.partial(context.run, bound, *args))
        if inspect.isawaitable(result):  # a sync-looking method that returned a coroutine
            result = await result
        return result
    finally:
        if token is not None:
            current_control.reset(token)


async def run_task(
    executor: AnyExecutor,
    function: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    task_metadata: dict[str, Any],
    control: TaskControl | None = None,
    pool: Executor | None = None,
) -> Any:
    """Run one electron on ``executor`` with ``control`` installed; return its output.

    Exceptions from ``run`` propagate (``TaskCancelledError`` included). When the
    executor has ``log_stdout`` / ``log_stderr`` set, what it reported is appended to them.
    """
    control = control or TaskControl(task_metadata=task_metadata)
    if not control.task_metadata:
        control.task_metadata = task_metadata
    try:
        return await call_executor(
            executor,
            "run",
            function,
            list(args),
            dict(kwargs),
            task_metadata,
            control=control,
            pool=pool,
        )
    finally:
        if executor.log_stdout or executor.log_stderr:
            await call_executor(
                executor,
                "write_streams_to_file",
                control.output(),
                (executor.log_stdout, executor.log_stderr),
                str(task_metadata.get("dispatch_id", "")),
                str(task_metadata.get("results_dir", "")),
                control=control,
                pool=pool,
            )


async def cancel_task(
    executor: AnyExecutor, control: TaskControl, pool: Executor | None = None
) -> bool:
    """Ask for the task of ``control`` to be cancelled; return whether ``cancel`` stopped a job.

    The flag is set *before* the handle is read, and executors set their handle before
    checking the flag, so a cancel that arrives while the job is starting is never lost:
    either this call sees the handle and calls ``cancel``, or ``run`` sees the flag.
    """
    control.cancel_requested = True
    handle = control.job_handle
    if handle is None:
        return False
    return bool(
        await call_executor(
            executor, "cancel", control.task_metadata, handle, control=control, pool=pool
        )
    )


def run_task_sync(
    executor: AnyExecutor,
    function: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    task_metadata: dict[str, Any],
    control: TaskControl | None = None,
) -> Any:
    """:func:`run_task` for callers without an event loop (a threaded actor, a test)."""
    import asyncio

    if not isinstance(executor, BaseExecutor):
        return asyncio.run(run_task(executor, function, args, kwargs, task_metadata, control))
    control = control or TaskControl(task_metadata=task_metadata)
    if not control.task_metadata:
        control.task_metadata = task_metadata
    with use_control(control):
        try:
            return executor.run(function, list(args), dict(kwargs), task_metadata)
        finally:
            if executor.log_stdout or executor.log_stderr:
                executor.write_streams_to_file(
                    control.output(),
                    (executor.log_stdout, executor.log_stderr),
                    str(task_metadata.get("dispatch_id", "")),
                    str(task_metadata.get("results_dir", "")),
                )


def cancel_task_sync(executor: AnyExecutor, control: TaskControl) -> bool:
    """:func:`cancel_task` for callers without an event loop (call it from another thread)."""
    if not isinstance(executor, BaseExecutor):
        import asyncio

        return asyncio.run(cancel_task(executor, control))
    control.cancel_requested = True  # flag first, handle second (see cancel_task)
    handle = control.job_handle
    if handle is None:
        return False
    with use_control(control):
        return bool(executor.cancel(control.task_metadata, handle))
