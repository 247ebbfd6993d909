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
  (``captures_output``), otherwise by a wrapper around the function that captures file
  descriptors into the electron's control; either way the function an executor receives
  returns the electron's output and nothing else. File descriptors are per process, so
  in-process captures take turns.
- Cancel (an electron's Ray task cancelled, or ``cancel(dispatch_id, node_id)``) sets the
  control's flag and calls the executor's ``cancel`` with the recorded job handle.
- A timeout is enforced here (the executor's thread cannot be interrupted by a signal):
  the executor is asked to cancel and the attempt fails with a timeout error.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import _serialize
from .._exceptions import ElectronTimeoutError, TaskCancelledError
from .._status import Status
from ..core.graph import NodeKind
from ..core.outcome import Skipped
from ..executors.base import AnyExecutor, TaskControl, short_name_of
from .capture import capture_fds
from .executor_calls import call_executor, cancel_task, run_task
from .worker import (
    BuildSublattice,
    ElectronRaised,
    NodeTask,
    _call_with_dask_on_ray,
    flush_reports,
    prepare,
    report,
    run_electron,
    run_sublattice,
    task_metadata,
)

#: the node metadata key under which a resumed dispatch hands an electron the job handle
#: its interrupted run recorded (set by the dispatcher, read into ``TaskControl``)
RESUME_JOB_HANDLE = "resume_job_handle"

_capture_turn = threading.Lock()  # one in-process fd capture at a time


class _Portable:
    """The function an executor receives when it captures output itself.

    Calling it calls the electron's function (with its deps and hooks). However it is
    pickled, it unpickles as that function, also on a machine with Python and
    cloudpickle but without covalent-ray (``_serialize.portable_reduce``).
    """

    def __init__(self, function: Any) -> None:
        self.function = function
        self.__name__ = getattr(function, "__name__", "electron")
        self.__wrapped__ = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return _serialize.portable_reduce(self.function, f"the function {self.__name__!r}")


class _CapturedHere(_Portable):
    """The function an in-process executor receives: it returns the electron's output only.

    What the electron writes to fds 1 and 2 is captured around the call and written to
    the electron's :class:`TaskControl`, never into the return value, so an executor that
    inspects or wraps what ``function`` returned sees the output itself (Covalent's
    contract). Captures take turns: file descriptors belong to the whole process.
    Pickled by an executor that ships it elsewhere, it is the bare function there (see
    :class:`_Portable`), and that executor reports what was printed through
    ``task_stdout`` / ``task_stderr``.
    """

    def __init__(self, function: Any, control: TaskControl) -> None:
        super().__init__(function)
        self.control = control

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _capture_turn:
            captured = None
            try:
                with capture_fds() as captured:
                    return _call_with_dask_on_ray(self.function, list(args), kwargs)
            finally:
                if captured is not None:
                    self.control.stdout.write(captured.stdout)
                    self.control.stderr.write(captured.stderr)


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
        self._resumed: set[tuple[str, int]] = set()

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
                coro = self._attempt(function, args, kwargs, task, timeout, attempt)
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
        attempt: int = 1,
    ) -> tuple[Any, str, str]:
        meta = task_metadata(task)
        control = TaskControl(task_metadata=meta)
        key = (task.spec.dispatch_id, task.spec.node_id)
        control.on_handle = self._handle_reporter(task, attempt)
        if key not in self._resumed:  # only the first attempt after a restart finds its job
            self._resumed.add(key)
            control.resume_handle = task.spec.metadata.get(RESUME_JOB_HANDLE)
        self._controls[key] = control
        captures = bool(getattr(self.executor, "captures_output", False))
        call: Any = _Portable(function) if captures else _CapturedHere(function, control)
        try:
            running = asyncio.ensure_future(
                run_task(self.executor, call, args, kwargs, meta, control, pool=self._calls)
            )
            try:
                if timeout:
                    await asyncio.wait({running}, timeout=timeout)
                    if not running.done():
                        raise TimeoutError
                result = await running
            except TimeoutError:
                # the flag first: an executor that sees its run cancelled with the flag set
                # stops its job (cancelled without it, the adaptor is going away and a
                # remote job runs on, to be found again after the restart)
                control.cancel_requested = True
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
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
            out, err = control.output()
            return result, out, err
        finally:
            self._controls.pop(key, None)

    def _handle_reporter(self, task: NodeTask, attempt: int) -> Any:
        """What records a job handle: a RUNNING event of this attempt that carries it,
        with the executor's remote host, so the handle is stored with the electron."""
        host = self.remote_host()

        def on_handle(handle: Any) -> None:
            report(
                [
                    {
                        "dispatch_id": task.spec.dispatch_id,
                        "node_id": task.spec.node_id,
                        "attempt": attempt,
                        "status": Status.RUNNING,
                        "job_handle": handle if isinstance(handle, str) else repr(handle),
                        "remote_host": host,
                    }
                ]
            )

        return on_handle

    def remote_host(self) -> str | None:
        """The host the executor runs electrons on (None: this Ray cluster)."""
        try:
            host = getattr(self.executor, "remote_host", None)
            return str(host()) if callable(host) and host() else None
        except Exception:
            return None

    async def describe(self) -> dict[str, Any]:
        """What ``covalent-ray status`` shows of this adaptor."""
        return {
            "key": self.key,
            "executor": type(self.executor).__name__,
            "short_name": short_name_of(self.executor),
            "remote_host": self.remote_host(),
            "running": len(self._controls),
            "pid": os.getpid(),
        }

    async def cancel(self, dispatch_id: str, node_id: int) -> bool:
        """Ask the executor to stop one running electron."""
        control = self._controls.get((dispatch_id, node_id))
        if control is None:
            return False
        return await cancel_task(self.executor, control, pool=self._calls)

    async def teardown(self) -> dict[str, int]:
        """Release the executor (after its last electron); returns setup/teardown counts.

        What this adaptor reported is acknowledged first: an executor may clean up what
        an interrupted run would need to find its result again (remote task directories).
        """
        await asyncio.get_running_loop().run_in_executor(self._calls, flush_reports, 60.0)
        if self._setup is not None:
            await call_executor(self.executor, "teardown", self._last_meta, pool=self._calls)
            self.teardowns += 1
            self._setup = None
        return {"setups": self.setups, "teardowns": self.teardowns}
