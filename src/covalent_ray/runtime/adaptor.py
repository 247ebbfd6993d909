"""Actor adaptors: a Ray actor that owns one configured executor and runs its electrons.

Policy
------
- One adaptor per distinct executor (same type and settings) in use by running
  dispatches. It unpickles the executor, calls ``setup`` once before its first electron
  and ``teardown`` when the dispatcher retires it (no running dispatch needs it).
- An electron keeps its place in the Ray task graph: the adaptor's ``run`` is an actor
  call whose arguments are the electron's input ObjectRefs (Ray resolves them before the
  call) and whose return value is the electron's output ObjectRef.
- Up to ``max_concurrency`` electrons run at once. Each gets its own ``TaskControl``
  (job handle, cancel flag, captured output). What the electron prints is captured
  where it runs: by the executor itself when it runs the function in another process
  (``captures_output``), otherwise by a picklable wrapper around the function that
  captures file descriptors and returns the output with the result. File descriptors
  are per process, so in-process captures take turns.
- Cancel (an electron's Ray task cancelled, or ``cancel(dispatch_id, node_id)``) sets the
  control's flag and calls the executor's ``cancel`` with the recorded job handle.
- A timeout is enforced here (the executor's thread cannot be interrupted by a signal):
  the executor is asked to cancel and the attempt fails with a timeout error.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import _serialize
from .._exceptions import ElectronTimeoutError, TaskCancelledError
from ..core.graph import NodeKind
from ..core.outcome import Skipped
from ..executors.base import AnyExecutor, TaskControl
from .executor_calls import call_executor, cancel_task, run_task
from .worker import (
    BuildSublattice,
    CapturedCall,
    ElectronRaised,
    NodeTask,
    prepare,
    run_electron,
    run_sublattice,
    task_metadata,
)

_capture_turn = threading.Lock()  # one in-process fd capture at a time


class _TakingTurns:
    """CapturedCall for electrons run inside this process: captures take turns."""

    def __init__(self, call: CapturedCall) -> None:
        self.call = call
        self.__name__ = call.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, str, str]:
        with _capture_turn:
            return self.call(*args, **kwargs)


def _raised_in(exc: BaseException) -> ElectronRaised | None:
    """The capture of a failed electron that an executor wrapped in its own error."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 10:
        if isinstance(cause, ElectronRaised):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


class ExecutorAdaptor:
    """Serves one executor instance to the dispatches that use it (a Ray actor)."""

    def __init__(self, executor_blob: bytes, key: str) -> None:
        self.key = key
        self.executor: AnyExecutor = _serialize.loads(executor_blob)
        concurrency = max(1, int(getattr(self.executor, "max_concurrency", 8)))
        self._runs = ThreadPoolExecutor(concurrency + 1, thread_name_prefix="adaptor-run")
        self._calls = ThreadPoolExecutor(concurrency + 2, thread_name_prefix="adaptor-call")
        self._limit: asyncio.Semaphore | None = None
        self._concurrency = concurrency
        self._setup: asyncio.Task[Any] | None = None
        self._controls: dict[tuple[str, int], TaskControl] = {}
        self.setups = 0
        self.teardowns = 0
        self._last_meta: dict[str, Any] = {}

    async def _ensure_setup(self, meta: dict[str, Any]) -> None:
        if self._setup is None:

            async def setup() -> None:
                await call_executor(self.executor, "setup", meta, pool=self._calls)
                self.setups += 1

            self._setup = asyncio.get_running_loop().create_task(setup())
        await asyncio.shield(self._setup)

    async def run(self, packed: bytes, refs: dict[str, Any] | None, *inputs: Any) -> Any:
        """Run one electron (its inputs already resolved by Ray) and return its output."""
        task = NodeTask.unpack(packed, refs)
        values = prepare(task, inputs)
        if isinstance(values, Skipped):
            return values
        if self._limit is None:
            self._limit = asyncio.Semaphore(self._concurrency)
        loop = asyncio.get_running_loop()
        meta = task_metadata(task)
        self._last_meta = meta
        async with self._limit:
            await self._ensure_setup(meta)
            if task.spec.kind is NodeKind.SUBLATTICE:  # this is the workflow executor
                return await self._sublattice(task, values, meta)

            def invoke(
                function: Any,
                args: list[Any],
                kwargs: dict[str, Any],
                task: NodeTask,
                attempt: int,
                timeout: float | None,
            ) -> Any:
                coro = self._attempt(function, args, kwargs, task, timeout)
                return asyncio.run_coroutine_threadsafe(coro, loop).result()

            try:
                return await loop.run_in_executor(self._runs, run_electron, task, values, invoke)
            except asyncio.CancelledError:  # the electron's Ray task was cancelled
                control = self._controls.get((task.spec.dispatch_id, task.spec.node_id))
                if control is not None:
                    await cancel_task(self.executor, control, pool=self._calls)
                raise

    async def _sublattice(self, task: NodeTask, values: list[Any], meta: dict[str, Any]) -> Any:
        """Build the sublattice's graph on this executor; dispatch and await it here."""
        loop = asyncio.get_running_loop()

        def build(builder: BuildSublattice, args: list[Any], kwargs: dict[str, Any]) -> Any:
            control = TaskControl(task_metadata=meta)
            coro = run_task(self.executor, builder, args, kwargs, meta, control, pool=self._calls)
            return asyncio.run_coroutine_threadsafe(coro, loop).result()

        return await loop.run_in_executor(self._runs, run_sublattice, task, values, build)

    async def _attempt(
        self,
        function: Any,
        args: list[Any],
        kwargs: dict[str, Any],
        task: NodeTask,
        timeout: float | None,
    ) -> tuple[Any, str, str]:
        meta = task_metadata(task)
        control = TaskControl(task_metadata=meta)
        key = (task.spec.dispatch_id, task.spec.node_id)
        self._controls[key] = control
        captures = bool(getattr(self.executor, "captures_output", False))
        call: Any = (
            function if captures else _TakingTurns(CapturedCall(function, task.spec.name, None))
        )
        try:
            running = run_task(self.executor, call, args, kwargs, meta, control, pool=self._calls)
            try:
                result = await asyncio.wait_for(running, timeout) if timeout else await running
            except TimeoutError:
                await cancel_task(self.executor, control, pool=self._calls)
                raise ElectronTimeoutError(
                    f"electron {task.spec.name!r} ran past its timeout of {timeout:g} s on "
                    f"executor {self.key!r} and was stopped"
                ) from None
            except TaskCancelledError:
                raise
            except ElectronRaised:
                raise
            except Exception as exc:  # the executor failed the attempt, perhaps wrapping ours
                inner = _raised_in(exc)
                out, err = (inner.stdout, inner.stderr) if inner else control.output()
                raise ElectronRaised(exc, out, err) from exc
            if captures:
                out, err = control.output()
                return result, out, err
            return result  # (output, stdout, stderr) from the capturing wrapper
        finally:
            self._controls.pop(key, None)

    async def cancel(self, dispatch_id: str, node_id: int) -> bool:
        """Ask the executor to stop one running electron."""
        control = self._controls.get((dispatch_id, node_id))
        if control is None:
            return False
        return await cancel_task(self.executor, control, pool=self._calls)

    async def teardown(self) -> dict[str, int]:
        """Release the executor (after its last electron); returns setup/teardown counts."""
        if self._setup is not None:
            await call_executor(self.executor, "teardown", self._last_meta, pool=self._calls)
            self.teardowns += 1
            self._setup = None
        return {"setups": self.setups, "teardowns": self.teardowns}

    async def counts(self) -> dict[str, int]:
        """How many times the executor was set up and torn down."""
        return {"setups": self.setups, "teardowns": self.teardowns}
