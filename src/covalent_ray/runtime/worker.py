"""What runs inside Ray workers: one node of a dispatch, and a dispatch's final step.

A node's task receives its inputs already resolved by Ray (upstream outputs) or as
pickled bytes (constants). It never raises for an electron's failure: it returns a
:class:`~covalent_ray.core.outcome.Failed` marker, and a node whose inputs hold markers
returns :class:`~covalent_ray.core.outcome.Skipped` without running (see
``core.outcome``). Every state change is sent to the result manager by a reporter
thread that waits for the manager's acknowledgement (resending through restarts), so
watching a dispatch costs the electrons nothing on their critical path and no event
is lost when the manager is killed.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import ray

from .. import _serialize
from .._exceptions import ElectronTimeoutError
from .._home import DISPATCHER_NAME, NAMESPACE, RESULT_MANAGER_NAME
from .._status import Status
from ..core.compile import TaskSpec
from ..core.context import TaskContext, current
from ..core.graph import NodeKind
from ..core.messages import (
    AttemptRecord,
    ElectronEvent,
    NodeKey,
    Outcome,
    OutputFields,
    ResultFields,
    Where,
    error_summary,
    error_text,
    node_label,
    output_fields,
    result_fields,
    worker_text,
)
from ..core.operators import glue_value
from ..core.outcome import Failed, Skipped, collect_failures, failure_message, substitute
from ..storage.blobs import INLINE_LIMIT, write_blob_file
from . import ends
from .capture import capture_fds


@dataclass(frozen=True)
class NodeTask:
    """A task spec plus the blobs it needs (bytes, or ObjectRefs of large ones)."""

    spec: TaskSpec
    root_dispatch_id: str
    blobs: dict[str, Any] = field(default_factory=dict)
    results_dir: str = ""
    objects_dir: str = ""  # the service's objects directory (large outputs go there)

    def pack(self) -> tuple[bytes, dict[str, Any] | None]:
        """Plain-pickled bytes of everything but ObjectRefs, plus those refs.

        Ray serializes task arguments with cloudpickle, which inspects every object it
        meets; a spec pre-pickled by the C pickler costs it one bytes object instead.
        """
        refs = {k: v for k, v in self.blobs.items() if isinstance(v, ray.ObjectRef)}
        inline = {k: v for k, v in self.blobs.items() if k not in refs}
        data = pickle.dumps(
            (self.spec, self.root_dispatch_id, inline, self.results_dir, self.objects_dir),
            protocol=5,
        )
        return data, (refs or None)

    @classmethod
    def unpack(cls, data: bytes, refs: dict[str, Any] | None) -> NodeTask:
        """Inverse of :meth:`pack`."""
        spec, root, blobs, results_dir, objects = pickle.loads(data)
        if refs:
            blobs.update(refs)
        return cls(spec, root, blobs, results_dir, objects)


@dataclass(frozen=True)
class FinalSpec:
    """What the dispatch's final step needs."""

    dispatch_id: str
    name: str
    inputs: tuple[int, ...]  # node ids of the values the final step receives, in order
    template: bytes  # pickled result template
    constants: dict[int, bytes] = field(default_factory=dict)  # reused outputs in the template
    objects_dir: str = ""  # as ``NodeTask.objects_dir``
    #: failures a resumed dispatch keeps from its interrupted run: those electrons do not
    #: run again, so no task's input carries their markers to the final step
    kept_failures: tuple[Failed, ...] = ()


_cache: dict[str, Any] = {}
_handles: dict[str, Any] = {}

#: where a reported end waits on disk for its acknowledgement: (journal, its offset)
Kept = tuple[ends.Journal, int]


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


def stored_output(value: Any, what: str, objects: str) -> OutputFields:
    """``output_fields`` of ``value``; a large one is written here, once, as its blob's
    file in the service's ``objects`` directory when this machine has it (the service's
    own, or a shared file system), so its bytes never travel through the result manager
    (issue 13). Elsewhere the bytes travel with the event, as small ones always do."""
    fields = output_fields(value, what)
    data = fields["output_data"]
    if data is not None and len(data) > INLINE_LIMIT and objects and os.path.isdir(objects):
        fields["output_file"] = write_blob_file(Path(objects), fields["output_blob"], data)
        fields["output_size"] = len(data)
        fields["output_data"] = None
    return fields


class _Reporter:
    """Batches a worker's state changes into few actor calls, each one acknowledged.

    A daemon thread sends what has accumulated at most ``interval`` seconds after the
    first unsent event. An electron's end is sent at once when nothing was sent for
    ``interval`` (an idle worker reports with no delay); when ends come faster than that
    (a fan-out of short electrons), they travel together. A RUNNING followed quickly by
    the electron's end costs a single call.

    The result manager answers a batch once it is committed, and the thread waits for
    that answer: a batch whose call fails (the manager died or is restarting) is sent
    again until it is acknowledged or ``give_up_s`` has passed, so an event is never
    dropped because the manager was killed at the wrong moment. Merging an event twice
    changes nothing (``storage.rows.apply_event``). Events that arrive while a batch is
    in flight travel together in the next one. At interpreter exit, what is still queued
    is sent before the process goes.
    """

    interval = 0.02
    ack_timeout_s = 60.0  # one call's wait; a stuck call is sent again
    give_up_s = 600.0  # a batch is dropped only after this long without an answer
    exit_flush_s = 10.0

    def __init__(self) -> None:
        # (event, urgent, where its end is kept until the event is acknowledged)
        self._queue: queue.SimpleQueue[tuple[ElectronEvent, bool, Kept | None]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()  # set while nothing is queued or in flight
        self._idle.set()
        self._unsent = 0
        self._count_lock = threading.Lock()

    def put(self, event: ElectronEvent, urgent: bool, kept: Kept | None = None) -> None:
        with self._count_lock:
            self._unsent += 1
            self._idle.clear()
        self._queue.put((event, urgent, kept))
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, daemon=True, name="covalent-ray-reporter"
                    )
                    self._thread.start()

    def _sent(self, n: int) -> None:
        with self._count_lock:
            self._unsent -= n
            if self._unsent <= 0:
                self._unsent = 0
                self._idle.set()

    def _run(self) -> None:
        pending: list[ElectronEvent] = []
        kept: list[Kept] = []
        last_send = 0.0
        flush_at = 0.0
        while True:
            timeout = None if not pending else max(0.0, flush_at - time.monotonic())
            event: ElectronEvent | None
            try:
                event, urgent, end = self._queue.get(timeout=timeout)
            except queue.Empty:
                event = end = None
            now = time.monotonic()
            if event is not None:
                if not pending:
                    flush_at = now + self.interval
                pending.append(event)
                if end is not None:
                    kept.append(end)
                if urgent and now - last_send >= self.interval:
                    flush_at = now
            if pending and now >= flush_at:
                # everything that queued up meanwhile goes too
                while True:
                    try:
                        event, _, end = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    pending.append(event)
                    if end is not None:
                        kept.append(end)
                acknowledged = self._send(pending)
                for journal, upto in kept:  # in order: each journal's last one counts
                    if acknowledged:
                        journal.acknowledged(upto)
                    else:
                        journal.given_up()
                self._sent(len(pending))
                pending, kept = [], []
                last_send = time.monotonic()

    def _send(self, batch: list[ElectronEvent]) -> bool:
        """Send ``batch`` until it is acknowledged (True) or ``give_up_s`` passed."""
        deadline = time.monotonic() + self.give_up_s
        while True:
            try:
                ref = _actor(RESULT_MANAGER_NAME).record.remote(batch)
                ray.get(ref, timeout=self.ack_timeout_s)
                return True
            except Exception:  # restarting, died, or slow: send the same batch again
                _handles.pop(RESULT_MANAGER_NAME, None)
                if time.monotonic() >= deadline:
                    # the dispatch's end closes what never arrived (and says so); an end
                    # file stays for a dispatcher that resumes the dispatch
                    return False
                time.sleep(0.1)  # the manager is coming back: do not spin on it

    def flush(self, timeout: float) -> bool:
        """Wait until everything reported so far is acknowledged; False on timeout."""
        return self._idle.wait(timeout)


_reporter = _Reporter()
atexit.register(lambda: _reporter.flush(_Reporter.exit_flush_s))


def flush_reports(timeout: float) -> bool:
    """Wait until this process's reports so far are acknowledged; False on timeout."""
    return _reporter.flush(timeout)


def report(events: list[ElectronEvent]) -> None:
    """Queue state changes for the result manager (the caller does not wait)."""
    for event in events:
        _reporter.put(event, Status(event["status"]).is_terminal)


def report_end(event: ElectronEvent, objects_dir: str) -> None:
    """Queue an electron's end, kept on disk until it is acknowledged (``runtime.ends``):
    a dispatch resumed after its dispatcher died does not run the electron again."""
    journal = ends.journal(objects_dir)
    if journal is None:
        _reporter.put(event, True)
        return
    with journal.lock:  # journal and queue in one order (adaptors run threads)
        try:
            upto = journal.append(cast(dict[str, Any], event))
        except OSError:
            _reporter.put(event, True)
            return
        _reporter.put(event, True, (journal, upto))


_node_id: tuple[int, str] | None = None  # (pid, Ray node) of this process


def _where() -> Where:
    global _node_id
    if _node_id is None or _node_id[0] != os.getpid():
        _node_id = (os.getpid(), ray.get_runtime_context().get_node_id())
    return {"ray_node_id": _node_id[1], "worker_pid": _node_id[0]}


def _with_traceback(stderr: str, text: str) -> str:
    """The electron's stderr followed by its traceback (unless already printed there)."""
    if text.strip() and text.strip() in stderr:
        return stderr
    return f"{stderr}\n{text}" if stderr and not stderr.endswith("\n") else stderr + text


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
    # constants count too: a resumed dispatch hands a failed electron's kept failure to
    # its dependants as a constant
    failures = collect_failures(values)
    return Skipped(failures) if failures else values


def run_node(packed: bytes, refs: dict[str, Any] | None, *inputs: Any) -> Any:
    """Run one node of a dispatch (the function Ray executes for every task)."""
    task = NodeTask.unpack(packed, refs)
    values = prepare(task, inputs)
    if isinstance(values, Skipped):
        return values
    kind = task.spec.kind
    if task.spec.metadata.get("executor_error"):
        return _fail_unresolved_executor(task)
    if kind is NodeKind.ELECTRON:
        return run_electron(task, values, invoke_here)
    if kind is NodeKind.SUBLATTICE:
        return run_sublattice(task, values)
    return _run_auxiliary(task, values)


def _fail_unresolved_executor(task: NodeTask) -> Failed:
    """An electron whose executor could not be resolved at dispatch time fails, naming it."""
    from .._exceptions import ExecutorError

    spec = task.spec
    exc = ExecutorError(str(spec.metadata["executor_error"]))
    now = time.time()
    text = f"{type(exc).__name__}: {exc}\n"
    report(
        [
            {
                "dispatch_id": spec.dispatch_id,
                "node_id": spec.node_id,
                "attempt": 1,
                "status": Status.FAILED,
                "start_time": now,
                "end_time": now,
                "error": text,
                "stderr": text,
                **_where(),
            }
        ]
    )
    return Failed(spec.node_id, spec.name, error_summary(exc))


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
            except SystemExit as exc:  # would end the worker process: fail the electron
                if hasattr(exc, "ray_terminate_msg"):
                    raise  # Ray ends this worker (its task's owner died): not the electron's
                error = RuntimeError(
                    f"electron {self.name!r} called sys.exit({exc.code!r}); an electron "
                    "should return or raise instead"
                )
                error.__cause__ = exc
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
    base: NodeKey = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id}
    where = _where()
    attempts: list[AttemptRecord] = []
    stdout = stderr = ""
    fields: OutputFields | None = None
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
                    "status": Status.FAILED,
                    "start_time": first_start,
                    "end_time": time.time(),
                    "error": error_text(exc),
                    "stderr": error_text(exc),
                    **where,
                }
            ]
        )
        return Failed(spec.node_id, spec.name, error_summary(exc))
    first = 1
    if _ray_attempt() > 0:  # Ray runs this task again: its worker or node was lost
        first, died = _after_worker_death(spec, where)
        attempts.extend(died)
        if first > retries + 1:
            report(
                [
                    {
                        **base,
                        "attempt": first - 1,
                        "status": Status.FAILED,
                        "end_time": time.time(),
                        "error": died[-1]["error"] if died else _died_text(spec, None),
                        "attempts": died,
                        **where,
                    }
                ]
            )
            return Failed(spec.node_id, spec.name, "its worker process died")
    sent = 0  # attempts already reported (each travels with the next attempt's start)
    for attempt in range(first, retries + 2):
        start = time.time()
        report(
            [
                {
                    **base,
                    "attempt": attempt,
                    "status": Status.RUNNING,
                    "start_time": first_start if attempt == 1 else None,
                    "attempts": attempts[sent:],
                    **where,
                }
            ]
        )
        sent = len(attempts)
        error = None
        token = current.set(
            TaskContext(spec.dispatch_id, spec.node_id, spec.name, task.root_dispatch_id, attempt)
        )
        try:
            with _last_words(base, spec.name, attempt, start, where):
                output, stdout, stderr = invoke(function, args, kwargs, task, attempt, timeout)
        except ElectronRaised as raised:
            error, stdout, stderr = raised.error, raised.stdout, raised.stderr
        except Exception as exc:  # the executor itself failed the attempt
            error = exc
        finally:
            current.reset(token)
        if error is None:
            try:
                fields = stored_output(
                    output, f"the output of electron {spec.name!r}", task.objects_dir
                )
            except Exception as exc:  # an unpicklable output fails the same way every time
                error = exc
                retries = attempt - 1
        attempts.append(
            {
                "attempt": attempt,
                "start_time": start,
                "end_time": time.time(),
                "status": Status.COMPLETED if error is None else Status.FAILED,
                "error": None if error is None else error_text(error),
                **where,
            }
        )
        if error is None or attempt > retries or _is_cancel(error):
            break
        time.sleep(delay)
    done: dict[str, Any] = {
        **base,
        "attempt": attempts[-1]["attempt"],
        "start_time": first_start,
        "end_time": time.time(),
        "stdout": stdout,
        "stderr": stderr,
        "attempts": attempts[sent:],
        # the final attempt's worker travels with the end itself, so the record is right
        # even when an earlier event (RUNNING) was lost to a crash
        **where,
    }
    if error is None:
        assert fields is not None
        report_end(
            cast(ElectronEvent, {**done, "status": Status.COMPLETED, **fields}), task.objects_dir
        )
        return output
    status = Status.CANCELLED if _is_cancel(error) else Status.FAILED
    text = error_text(error)
    if status is Status.FAILED:  # Covalent prints a failed electron's traceback to its stderr
        done["stderr"] = _with_traceback(stderr, text)
    report_end(cast(ElectronEvent, {**done, "status": status, "error": text}), task.objects_dir)
    return Failed(spec.node_id, spec.name, error_summary(error))


def _ray_attempt() -> int:
    """How many times Ray has run this task before (0: the first run). Ray re-runs an
    electron's task only after its worker process died (see ``max_retries`` in launch)."""
    try:
        core_worker = ray._private.worker.global_worker.core_worker
        return int(core_worker.get_current_task_attempt_number())
    except Exception:  # a Ray without this accessor: every run counts as a first one
        return 0


def node_lost(ray_node_id: str | None) -> bool:
    """Whether the Ray node ``ray_node_id`` has left the cluster (dead or unknown)."""
    if not ray_node_id:
        return False
    try:
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    except Exception:  # the cluster cannot be asked: say nothing about the node
        return False
    return ray_node_id not in alive


def _died_text(spec: TaskSpec, state: dict[str, Any] | None) -> str:
    state = state or {}
    attempt = state.get("attempt")
    where = worker_text(
        state.get("worker_pid"), state.get("ray_node_id"), node_lost(state.get("ray_node_id"))
    )
    return (
        f"{node_label(spec.name, spec.node_id, spec.dispatch_id)}: the {where} running "
        f"attempt {attempt or '?'} died (killed by a signal, the out-of-memory killer, a "
        "crash, or the loss of its node); Ray ran the task again"
    )


def _after_worker_death(spec: TaskSpec, where: Where) -> tuple[int, list[AttemptRecord]]:
    """The attempt to run next, and the record of the attempt whose worker died (unless
    that attempt recorded its own end: ``os._exit`` leaves last words)."""
    state = ray.get(
        _actor(RESULT_MANAGER_NAME).node_state.remote(spec.dispatch_id, spec.node_id), timeout=120
    )
    started = int((state or {}).get("attempt") or 0)
    if not started:
        return 1, []
    if f"during attempt {started}" in ((state or {}).get("error") or ""):
        return started + 1, []  # the attempt recorded its own end before it exited
    row: AttemptRecord = {
        "attempt": started,
        "start_time": None,
        "end_time": time.time(),
        "status": Status.FAILED,
        "error": _died_text(spec, state),
        "ray_node_id": (state or {}).get("ray_node_id"),
        "worker_pid": (state or {}).get("worker_pid"),
    }
    return started + 1, [row]


@contextmanager
def _last_words(
    base: NodeKey, name: str, attempt: int, start: float, where: Where
) -> Iterator[None]:
    """While the electron runs here, ``os._exit(code)`` records the attempt as failed with
    that exit code before the process ends (nothing else would tell)."""
    real_exit = os._exit

    def exit_now(code: int) -> None:
        try:
            text = (
                f"{node_label(name, base['node_id'], base['dispatch_id'])} "
                f"ended its worker process (pid {os.getpid()}) with exit code {code} "
                f"(os._exit({code})) during attempt {attempt}"
            )
            row = {
                "attempt": attempt,
                "start_time": start,
                "end_time": time.time(),
                "status": Status.FAILED,
                "error": text,
                **where,
            }
            event = {**base, "attempt": attempt, "status": Status.RUNNING, "error": text}
            ray.get(
                _actor(RESULT_MANAGER_NAME).record.remote([{**event, "attempts": [row], **where}]),
                timeout=10,
            )
        except BaseException:
            pass
        finally:
            real_exit(code)

    if threading.current_thread() is not threading.main_thread():
        yield  # an executor's thread: the process is not ours to watch
        return
    import faulthandler

    # who runs the electron, and (from faulthandler) the fatal signal that ended it, for
    # the dispatcher to read should the process die
    marker = ends.running_marker()
    was_enabled = faulthandler.is_enabled()
    if marker is not None:
        try:
            marker.start(base["dispatch_id"], base["node_id"], attempt)
            faulthandler.enable(file=marker.fd, all_threads=False)
        except OSError:
            marker = None
    os._exit = exit_now  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real_exit
        if marker is not None:
            if was_enabled:  # back to where Ray's worker sends it
                faulthandler.enable(all_threads=False)
            else:
                faulthandler.disable()
            marker.clear()


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


_UNSET = object()


def _call_with_dask_on_ray(function: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Call the electron so that dask collections computed inside it run on Ray too."""
    import dask.config
    from ray.util.dask import ray_dask_get

    # what ``dask.config.set(scheduler=...)`` does, without its per-call key handling
    # (a measurable part of a short electron's cost)
    config = dask.config.config
    before = config.get("scheduler", _UNSET)
    config["scheduler"] = ray_dask_get
    try:
        return function(*args, **kwargs)
    finally:
        if before is _UNSET:
            config.pop("scheduler", None)
        else:
            config["scheduler"] = before


def _run_auxiliary(task: NodeTask, values: list[Any]) -> Any:
    spec = task.spec
    base: NodeKey = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id, "attempt": 1}
    start = time.time()
    try:
        output = _auxiliary_value(task, values)
        fields = stored_output(output, f"the output of electron {spec.name!r}", task.objects_dir)
    except Exception as exc:
        report(
            [
                {
                    **base,
                    "status": Status.FAILED,
                    "start_time": start,
                    "end_time": time.time(),
                    "error": error_text(exc),
                    **_where(),
                }
            ]
        )
        return Failed(spec.node_id, spec.name, error_summary(exc))
    report(
        [
            {
                **base,
                "status": Status.COMPLETED,
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
    base: NodeKey = {"dispatch_id": spec.dispatch_id, "node_id": spec.node_id, "attempt": 1}
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
                    "status": Status.FAILED,
                    "start_time": start,
                    "end_time": time.time(),
                    "error": error_text(exc),
                    **_where(),
                }
            ]
        )
        return Failed(spec.node_id, spec.name, error_summary(exc))
    report([{**base, "status": Status.RUNNING, "start_time": start, **_where()}])
    try:
        outcome_ref, value_ref = ray.get(
            _actor(DISPATCHER_NAME).submit.remote(manifest, want_refs=True)
        )
        # the child is registered now: its ID can be followed
        report([{**base, "status": Status.DISPATCHING, "sub_dispatch_id": child_id}])
        outcome: Outcome = ray.get(outcome_ref)
        # the child's end is committed by its dispatcher: wait for that, so that a
        # finished sublattice electron never has a running child dispatch
        ray.get(_actor(RESULT_MANAGER_NAME).wait.remote(child_id))
        if outcome.status != Status.COMPLETED:
            raise RuntimeError(
                f"sublattice dispatch {child_id} ended {outcome.status}: {outcome.error}"
            )
        value = ray.get(value_ref)
        fields = stored_output(value, f"the output of electron {spec.name!r}", task.objects_dir)
    except Exception as exc:
        report(
            [
                {
                    **base,
                    "status": Status.FAILED,
                    "end_time": time.time(),
                    "error": error_text(exc),
                    "sub_dispatch_id": child_id,
                }
            ]
        )
        return Failed(spec.node_id, spec.name, error_summary(exc))
    report(
        [
            {
                **base,
                "status": Status.COMPLETED,
                "end_time": time.time(),
                "sub_dispatch_id": child_id,
                **fields,
            }
        ]
    )
    return value


def finalize(final: FinalSpec, *values: Any) -> tuple[Outcome, Any, ResultFields]:
    """The dispatch's last task: decide its outcome and build its result.

    It starts only after every node has ended (see ``core.outcome``). It returns the
    outcome (to the dispatcher, which has the result manager commit it), the result value
    (for a parent dispatch's sublattice electron) and the result's stored form (handed to
    the result manager as an ObjectRef, so it travels once). It does not wait for the
    commit: a final task blocked on an actor call holds a worker process (and makes Ray
    start others) for every dispatch in flight (issue 12).
    """
    failures = collect_failures([*values, *final.kept_failures])
    result: Any = None
    fields: ResultFields = {}
    if failures:
        status, error = Status.FAILED, failure_message(failures)
    else:
        try:
            outputs = dict(zip(final.inputs, values))
            outputs.update({k: _serialize.loads(v) for k, v in final.constants.items()})
            result = substitute(_serialize.loads(final.template), outputs)
            fields = result_fields(
                stored_output(result, f"the result of lattice {final.name!r}", final.objects_dir)
            )
            status, error = Status.COMPLETED, None
        except Exception as exc:
            status = Status.POSTPROCESSING_FAILED
            error = f"building the result of lattice {final.name!r} failed: {error_summary(exc)}"
            result = None
    outcome = Outcome(final.dispatch_id, status, error, tuple(f.node_id for f in failures))
    return outcome, result, fields
