"""What runs inside Ray workers: one node of a dispatch, and a dispatch's final step.

A node's task receives its inputs already resolved by Ray (upstream outputs) or as
pickled bytes (constants). It never raises for an electron's failure: it returns a
:class:`~covalent_ray.core.outcome.Failed` marker, and a node whose inputs hold markers
returns :class:`~covalent_ray.core.outcome.Skipped` without running (see
``core.outcome``). Every state change is sent to the result manager as a fire-and-forget
actor call, so watching a dispatch costs the electrons nothing on their critical path.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import ray

from .. import _serialize
from .._exceptions import ElectronTimeoutError
from .._home import DISPATCHER_NAME, NAMESPACE, RESULT_MANAGER_NAME
from .._status import Status
from ..core.compile import TaskSpec
from ..core.context import TaskContext, current
from ..core.graph import NodeKind
from ..core.operators import glue_value
from ..core.outcome import Failed, Skipped, collect_failures, failure_message, substitute
from .capture import capture_fds


@dataclass(frozen=True)
class NodeTask:
    """A task spec plus the blobs it needs (bytes, or ObjectRefs of large ones)."""

    spec: TaskSpec
    root_dispatch_id: str
    blobs: dict[str, Any] = field(default_factory=dict)
    results_dir: str = ""

    def pack(self) -> tuple[bytes, dict[str, Any] | None]:
        """Plain-pickled bytes of everything but ObjectRefs, plus those refs.

        Ray serializes task arguments with cloudpickle, which inspects every object it
        meets; a spec pre-pickled by the C pickler costs it one bytes object instead.
        """
        refs = {k: v for k, v in self.blobs.items() if isinstance(v, ray.ObjectRef)}
        inline = {k: v for k, v in self.blobs.items() if k not in refs}
        data = pickle.dumps(
            (self.spec, self.root_dispatch_id, inline, self.results_dir), protocol=5
        )
        return data, (refs or None)

    @classmethod
    def unpack(cls, data: bytes, refs: dict[str, Any] | None) -> NodeTask:
        """Inverse of :meth:`pack`."""
        spec, root, blobs, results_dir = pickle.loads(data)
        if refs:
            blobs.update(refs)
        return cls(spec, root, blobs, results_dir)


@dataclass(frozen=True)
class FinalSpec:
    """What the dispatch's final step needs."""

    dispatch_id: str
    name: str
    inputs: tuple[int, ...]  # node ids of the values the final step receives, in order
    template: bytes  # pickled result template
    constants: dict[int, bytes] = field(default_factory=dict)  # reused outputs in the template


@dataclass(frozen=True)
class Outcome:
    """How a dispatch ended (small: the result itself travels separately)."""

    dispatch_id: str
    status: str
    error: str | None = None


_cache: dict[str, Any] = {}
_handles: dict[str, Any] = {}


def _actor(name: str) -> Any:
    handle = _handles.get(name)
    if handle is None:
        handle = ray.get_actor(name, namespace=NAMESPACE)
        _handles[name] = handle
    return handle


def _blob(task: NodeTask, key: str) -> Any:
    """Unpickle a blob once per worker process (functions repeat across a fan-out)."""
    if key in _cache:
        return _cache[key]
    data = task.blobs[key]
    if isinstance(data, ray.ObjectRef):
        data = ray.get(data)
    value = _serialize.loads(data)
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = value
    return value


class _Reporter:
    """Batches a worker's state changes into few actor calls.

    A daemon thread sends what has accumulated at most ``interval`` seconds after the
    first unsent event. An electron's end is sent at once when nothing was sent for
    ``interval`` (an idle worker reports with no delay); when ends come faster than that
    (a fan-out of short electrons), they travel together. A RUNNING followed quickly by
    the electron's end costs a single call.
    """

    interval = 0.02

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], bool]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, event: dict[str, Any], urgent: bool) -> None:
        self._queue.put((event, urgent))
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, daemon=True, name="covalent-ray-reporter"
                    )
                    self._thread.start()

    def _run(self) -> None:
        pending: list[dict[str, Any]] = []
        last_send = 0.0
        flush_at = 0.0
        while True:
            timeout = None if not pending else max(0.0, flush_at - time.monotonic())
            try:
                event, urgent = self._queue.get(timeout=timeout)
            except queue.Empty:
                event = None
            now = time.monotonic()
            if event is not None:
                if not pending:
                    flush_at = now + self.interval
                pending.append(event)
                if urgent and now - last_send >= self.interval:
                    flush_at = now
            if pending and now >= flush_at:
                self._send(pending)
                pending = []
                last_send = time.monotonic()

    @staticmethod
    def _send(batch: list[dict[str, Any]]) -> None:
        for _attempt in range(2):
            try:
                _actor(RESULT_MANAGER_NAME).record.remote(batch)
                return
            except Exception:  # the manager restarting must not fail the electron
                _handles.pop(RESULT_MANAGER_NAME, None)


_reporter = _Reporter()


def report(events: list[dict[str, Any]]) -> None:
    """Send state changes to the result manager without waiting."""
    for event in events:
        _reporter.put(event, Status(event["status"]).is_terminal)


def _where() -> dict[str, Any]:
    ctx = ray.get_runtime_context()
    return {"ray_node_id": ctx.get_node_id(), "worker_pid": os.getpid()}


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _output_fields(value: Any, name: str) -> dict[str, Any]:
    data = _serialize.dumps(value, f"the output of electron {name!r}")
    return {
        "output_data": data,
        "output_blob": _serialize.blob_key(data),
        "output_repr": _serialize.readable(value),
        "output_json": _serialize.as_json(value),
    }


def task_metadata(task: NodeTask) -> dict[str, Any]:
    """What executors receive as ``task_metadata`` (Covalent's keys)."""
    spec = task.spec
    return {
        "dispatch_id": spec.dispatch_id,
        "node_id": spec.node_id,
        "node_name": spec.name,
        "results_dir": task.results_dir,
        "root_dispatch_id": task.root_dispatch_id,
    }


def prepare(task: NodeTask, inputs: tuple[Any, ...]) -> list[Any] | Skipped:
    """The node's input values (constants unpickled), or the marker to return instead."""
    spec = task.spec
    values = [_serialize.loads(v) if const else v for v, const in zip(inputs, spec.constants)]
    failures = collect_failures(v for v, const in zip(values, spec.constants) if not const)
    return Skipped(failures) if failures else values


def run_node(packed: bytes, refs: dict[str, Any] | None, *inputs: Any) -> Any:
    """Run one node of a dispatch (the function Ray executes for every task)."""
    task = NodeTask.unpack(packed, refs)
    values = prepare(task, inputs)
    if isinstance(values, Skipped):
        return values
    kind = task.spec.kind
    if kind is NodeKind.ELECTRON:
        return run_electron(task, values, invoke_here)
    if kind is NodeKind.SUBLATTICE:
        return run_sublattice(task, values)
    return _run_auxiliary(task, values)


def _bind(spec: TaskSpec, values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    return [values[i] for i in spec.args], {name: values[i] for name, i in spec.kwargs}


class ElectronRaised(Exception):
    """An attempt failed; carries what the electron wrote before it failed."""

    def __init__(self, error: BaseException, stdout: str = "", stderr: str = "") -> None:
        super().__init__(str(error))
        self.error = error
        self.stdout = stdout
        self.stderr = stderr


#: ``invoke(function, args, kwargs, task, attempt, timeout) -> (output, stdout, stderr)``;
#: raises :class:`ElectronRaised` when the attempt fails.
Invoke = Callable[
    [Callable[..., Any], list[Any], dict[str, Any], NodeTask, int, "float | None"],
    tuple[Any, str, str],
]


class CapturedCall:
    """The electron's function with fd-level capture, its timeout and Dask-on-Ray.

    Picklable, so an executor may run it in another process or on another machine: the
    capture then happens where the code runs, and the output travels back with the
    result as ``(output, stdout, stderr)`` (or inside :class:`ElectronRaised`).
    """

    def __init__(self, function: Callable[..., Any], name: str, timeout: float | None) -> None:
        self.function = function
        self.name = name
        self.timeout = timeout
        self.__name__ = getattr(function, "__name__", name)

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Any, str, str]:
        error: BaseException | None = None
        output: Any = None
        with capture_fds() as captured:
            try:
                with _deadline(self.timeout, self.name):
                    output = _call_with_dask_on_ray(self.function, list(args), kwargs)
            except Exception as exc:
                error = exc
        if error is not None:
            raise ElectronRaised(error, captured.stdout, captured.stderr)
        return output, captured.stdout, captured.stderr


def invoke_here(
    function: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    task: NodeTask,
    attempt: int,
    timeout: float | None,
) -> tuple[Any, str, str]:
    """Run one attempt in this process (a Ray task of the default executor)."""
    return CapturedCall(function, task.spec.name, timeout)(*args, **kwargs)


def run_electron(task: NodeTask, values: list[Any], invoke: Invoke) -> Any:
    """Run an electron with its deps, retries and timeout; report every attempt.

    ``invoke`` runs one attempt: here, or through an executor (see ``runtime.adaptor``).
    """
    from .hooks import wrap_with_hooks

    spec = task.spec
    meta = spec.metadata
    retries = max(0, int(meta.get("retries") or 0))
    delay = float(meta.get("retry_delay") or 0.0)
    timeout = meta.get("timeout")
    base = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id}
    where = _where()
    attempts: list[dict[str, Any]] = []
    stdout = stderr = ""
    fields: dict[str, Any] = {}
    output: Any = None
    error: BaseException | None = None
    first_start = time.time()
    try:
        function = _blob(task, spec.function) if spec.function else None
        if function is None:
            raise RuntimeError(f"electron {spec.name!r} has no function to run")
        hooks = _blob(task, meta["hooks"]) if meta.get("hooks") else None
        function = wrap_with_hooks(function, hooks, task_metadata(task))
        args, kwargs = _bind(spec, values)
    except Exception as exc:  # the function cannot even be loaded: no retry helps
        report(
            [
                {
                    **base,
                    "attempt": 1,
                    "status": Status.FAILED.value,
                    "start_time": first_start,
                    "end_time": time.time(),
                    "error": _error_text(exc),
                    **where,
                }
            ]
        )
        return Failed(spec.node_id, spec.name, _summary(exc))
    for attempt in range(1, retries + 2):
        start = time.time()
        report(
            [
                {
                    **base,
                    "attempt": attempt,
                    "status": Status.RUNNING.value,
                    "start_time": first_start if attempt == 1 else None,
                    **where,
                }
            ]
        )
        error = None
        token = current.set(
            TaskContext(spec.dispatch_id, spec.node_id, spec.name, task.root_dispatch_id, attempt)
        )
        try:
            output, stdout, stderr = invoke(function, args, kwargs, task, attempt, timeout)
        except ElectronRaised as raised:
            error, stdout, stderr = raised.error, raised.stdout, raised.stderr
        except Exception as exc:  # the executor itself failed the attempt
            error = exc
        finally:
            current.reset(token)
        if error is None:
            try:
                fields = _output_fields(output, spec.name)
            except Exception as exc:  # an unpicklable output fails the same way every time
                error = exc
                retries = attempt - 1
        attempts.append(
            {
                "attempt": attempt,
                "start_time": start,
                "end_time": time.time(),
                "status": Status.COMPLETED.value if error is None else Status.FAILED.value,
                "error": None if error is None else _error_text(error),
                **where,
            }
        )
        if error is None or attempt > retries or _is_cancel(error):
            break
        time.sleep(delay)
    done = {
        **base,
        "attempt": len(attempts),
        "start_time": first_start,
        "end_time": time.time(),
        "stdout": stdout,
        "stderr": stderr,
        "attempts": attempts,
    }
    if error is None:
        report([{**done, "status": Status.COMPLETED.value, **fields}])
        return output
    status = Status.CANCELLED if _is_cancel(error) else Status.FAILED
    report([{**done, "status": status.value, "error": _error_text(error)}])
    return Failed(spec.node_id, spec.name, _summary(error))


def _is_cancel(error: BaseException) -> bool:
    from .._exceptions import TaskCancelledError

    return isinstance(error, TaskCancelledError)


@contextmanager
def _deadline(seconds: float | None, name: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with :class:`ElectronTimeoutError`.

    Ray runs a task on its worker's main thread, where SIGALRM can interrupt even a
    blocking call (sleep, I/O waits) by raising in the handler. Elsewhere (an executor's
    thread) the adaptor enforces the timeout instead.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ElectronTimeoutError(
            f"electron {name!r} ran past its timeout of {seconds:g} s and was stopped; "
            "raise `timeout=` on the electron if it needs longer."
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _call_with_dask_on_ray(function: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call the electron so that dask collections computed inside it run on Ray too."""
    import dask
    from ray.util.dask import ray_dask_get

    with dask.config.set(scheduler=ray_dask_get):
        return function(*args, **kwargs)


def _run_auxiliary(task: NodeTask, values: list[Any]) -> Any:
    spec = task.spec
    base = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id, "attempt": 1}
    start = time.time()
    try:
        output = _auxiliary_value(task, values)
        fields = _output_fields(output, spec.name)
    except Exception as exc:
        report(
            [
                {
                    **base,
                    "status": Status.FAILED.value,
                    "start_time": start,
                    "end_time": time.time(),
                    "error": _error_text(exc),
                    **_where(),
                }
            ]
        )
        return Failed(spec.node_id, spec.name, _summary(exc))
    report(
        [
            {
                **base,
                "status": Status.COMPLETED.value,
                "start_time": start,
                "end_time": time.time(),
                **fields,
                **_where(),
            }
        ]
    )
    return output


def _auxiliary_value(task: NodeTask, values: list[Any]) -> Any:
    spec = task.spec
    args, _ = _bind(spec, values)
    stored = spec.value
    return glue_value(spec.kind, spec.op, args, (lambda: _blob(task, stored)) if stored else None)


class BuildSublattice:
    """Builds a sublattice's manifest from its actual inputs; picklable, so the workflow
    executor can run it wherever it runs electrons."""

    def __init__(self, lattice: Any, ids: dict[str, Any]) -> None:
        self.lattice = lattice
        self.ids = ids
        self.__name__ = f"build_{getattr(lattice, 'name', 'sublattice')}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.lattice.manifest(tuple(args), kwargs, **self.ids)


def run_sublattice(
    task: NodeTask,
    values: list[Any],
    build: Callable[[BuildSublattice, list[Any], dict[str, Any]], Any] | None = None,
) -> Any:
    """Build the sublattice (here, or through ``build``: the workflow executor), dispatch
    it as a child dispatch, wait for it and return its result."""
    import uuid

    spec = task.spec
    base = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id, "attempt": 1}
    start = time.time()
    child_id = str(uuid.uuid4())
    try:
        lattice = _blob(task, spec.function) if spec.function else None
        args, kwargs = _bind(spec, values)
        builder = BuildSublattice(
            lattice,
            {
                "dispatch_id": child_id,
                "parent_dispatch_id": spec.dispatch_id,
                "parent_node_id": spec.node_id,
                "root_dispatch_id": task.root_dispatch_id,
            },
        )
        manifest = builder(*args, **kwargs) if build is None else build(builder, args, kwargs)
    except Exception as exc:
        report(
            [
                {
                    **base,
                    "status": Status.FAILED.value,
                    "start_time": start,
                    "end_time": time.time(),
                    "error": _error_text(exc),
                    **_where(),
                }
            ]
        )
        return Failed(spec.node_id, spec.name, _summary(exc))
    report([{**base, "status": Status.RUNNING.value, "start_time": start, **_where()}])
    try:
        outcome_ref, value_ref = ray.get(_actor(DISPATCHER_NAME).submit.remote(manifest, True))
        # the child is registered now: its ID can be followed
        report([{**base, "status": Status.DISPATCHING.value, "sub_dispatch_id": child_id}])
        outcome: Outcome = ray.get(outcome_ref)
        if outcome.status != Status.COMPLETED.value:
            raise RuntimeError(
                f"sublattice dispatch {child_id} ended {outcome.status}: {outcome.error}"
            )
        value = ray.get(value_ref)
        fields = _output_fields(value, spec.name)
    except Exception as exc:
        report(
            [
                {
                    **base,
                    "status": Status.FAILED.value,
                    "end_time": time.time(),
                    "error": _error_text(exc),
                    "sub_dispatch_id": child_id,
                }
            ]
        )
        return Failed(spec.node_id, spec.name, _summary(exc))
    report(
        [
            {
                **base,
                "status": Status.COMPLETED.value,
                "end_time": time.time(),
                "sub_dispatch_id": child_id,
                **fields,
            }
        ]
    )
    return value


def finalize(final: FinalSpec, *values: Any) -> tuple[Outcome, Any]:
    """The dispatch's last task: decide its outcome, build its result, store both.

    It starts only after every node has ended (see ``core.outcome``), and returns only
    after the result manager has committed the outcome.
    """
    failures = collect_failures(values)
    result: Any = None
    fields: dict[str, Any] = {}
    if failures:
        status, error = Status.FAILED.value, failure_message(failures)
    else:
        try:
            outputs = dict(zip(final.inputs, values))
            outputs.update({k: _serialize.loads(v) for k, v in final.constants.items()})
            result = substitute(_serialize.loads(final.template), outputs)
            data = _serialize.dumps(result, f"the result of lattice {final.name!r}")
            fields = {
                "result_data": data,
                "result_blob": _serialize.blob_key(data),
                "result_repr": _serialize.readable(result),
                "result_json": _serialize.as_json(result),
            }
            status, error = Status.COMPLETED.value, None
        except Exception as exc:
            status = Status.POSTPROCESSING_FAILED.value
            error = f"building the result of lattice {final.name!r} failed: {_summary(exc)}"
            result = None
    outcome = Outcome(final.dispatch_id, status, error)
    ray.get(
        _actor(RESULT_MANAGER_NAME).complete.remote(
            final.dispatch_id, status, error, [f.node_id for f in failures], fields
        )
    )
    return outcome, result
