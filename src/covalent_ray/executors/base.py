"""The executor contract, compatible with Covalent's.

An executor decides *where* one electron runs. Subclass :class:`BaseExecutor` (a
synchronous ``run``) or :class:`AsyncBaseExecutor` (``async def run``) and implement::

    run(function, args, kwargs, task_metadata) -> output

``task_metadata`` is a dict with ``dispatch_id``, ``node_id``, ``node_name`` and
``results_dir``. Optional methods: ``setup(task_metadata)`` and
``teardown(task_metadata)`` (called once per adaptor: before its first electron and when
it is no longer needed), ``cancel(task_metadata, job_handle) -> bool``. Inside ``run``,
``set_job_handle(handle)`` records what ``cancel`` needs (a pid, a job id) and
``get_cancel_requested()`` says whether a cancel has been asked for; raise
``TaskRuntimeError`` or ``TaskCancelledError`` to report failure or cancellation.
Executors that run the function elsewhere write its output to ``self.task_stdout`` /
``self.task_stderr`` (file-like), as in Covalent.

A Covalent executor plugin ports by changing its imports only::

    from covalent.executor.base import BaseExecutor                  # before
    from covalent_ray.executors.base import BaseExecutor             # after
    from covalent._shared_files.exceptions import TaskRuntimeError   # before
    from covalent_ray.executors import TaskRuntimeError              # after

How per-task state works. One executor instance serves many electrons, several at once
(``max_concurrency``), in threads or asyncio tasks of one adaptor. Everything that belongs
to one electron lives in a :class:`TaskControl`, which the adaptor installs in the
context variable :data:`current_control` around each call (the runtime's
``executor_calls.run_task`` does it); the
base-class helpers read and write *that* object, never the instance, so concurrent
electrons cannot see each other's handles, cancel flags or output.
"""

from __future__ import annotations

import contextvars
import copy
import io
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

# --------------------------------------------------------------------------- per-task control


@dataclass(eq=False)
class TaskControl:
    """The state of one electron's run on an executor, shared by the executor and its adaptor.

    ``job_handle`` is what ``set_job_handle`` recorded (``cancel`` receives it);
    ``on_handle`` (set by the adaptor) is told each handle as it is recorded, so it
    reaches the electron's stored RUNNING record; ``resume_handle`` is the handle stored
    by the run that a service restart (or the loss of a dispatcher or worker) interrupted;
    ``cancel_requested`` is set when a cancel is asked for; ``stdout`` / ``stderr`` collect the
    electron's output when the executor captures it itself (``captures_output``).
    """

    task_metadata: dict[str, Any] = field(default_factory=dict)
    job_handle: Any = None
    on_handle: Callable[[Any], None] | None = None
    resume_handle: Any = None
    cancel_requested: bool = False
    stdout: io.StringIO = field(default_factory=io.StringIO)
    stderr: io.StringIO = field(default_factory=io.StringIO)

    def output(self) -> tuple[str, str]:
        """Everything reported so far, as ``(stdout, stderr)``."""
        return self.stdout.getvalue(), self.stderr.getvalue()


current_control: contextvars.ContextVar[TaskControl | None] = contextvars.ContextVar(
    "covalent_ray_task_control", default=None
)


@contextmanager
def use_control(control: TaskControl) -> Iterator[TaskControl]:
    """Install ``control`` as the current task's control for the block."""
    token = current_control.set(control)
    try:
        yield control
    finally:
        current_control.reset(token)


# --------------------------------------------------------------------------- short names


class ShortName(str):
    """A ``str`` that can also be called: Covalent spells it ``executor.short_name()``."""

    def __call__(self) -> str:
        return str(self)


def derive_short_name(cls: type) -> str:
    """The short name of an executor class that does not set one.

    A class named by its module's ``EXECUTOR_PLUGIN_NAME`` (a plugin module, Covalent's
    layout; the built-ins use it too) is named after the module's file: ``local.py`` gives
    ``"local"``. Any other class gets its lower-cased name without an ``Executor``
    suffix: ``TimingExecutor`` gives ``"timing"``.
    """
    module = sys.modules.get(cls.__module__)
    plugin_name = getattr(module, "EXECUTOR_PLUGIN_NAME", None) or getattr(
        module, "executor_plugin_name", None
    )
    if plugin_name == cls.__name__:
        return cls.__module__.rsplit(".", 1)[-1]
    name = cls.__name__.lower()
    if name.endswith("executor") and len(name) > len("executor"):
        name = name[: -len("executor")]
    return name


class _ShortNameAttribute:
    """``short_name`` of classes that set none: derived from the class (see above)."""

    def __get__(self, obj: object, owner: type) -> ShortName:
        return ShortName(derive_short_name(owner))


def short_name_of(executor: Any) -> str:
    """The short name of an executor instance or class, however it spells ``short_name``.

    Handles the derived default, a plain class attribute and Covalent's method form.
    """
    value = getattr(executor, "short_name", None)
    if callable(value) and not isinstance(value, str):
        value = value()
    if not value:
        cls = executor if isinstance(executor, type) else type(executor)
        value = derive_short_name(cls)
    return str(value)


# --------------------------------------------------------------------------- base classes


class _AbstractBaseExecutor(ABC):
    """What the synchronous and asynchronous executors share.

    Constructor arguments are Covalent's: ``log_stdout`` / ``log_stderr`` (files, relative
    to ``results_dir/<dispatch_id>`` unless absolute, that also receive the electron's
    output), ``cache_dir``, ``time_limit`` and ``retries`` (stored for plugins that use
    them; covalent-ray's own retries and timeouts are electron settings).
    ``max_concurrency=`` overrides the class's default. Unknown keyword arguments are
    accepted and ignored, as in Covalent, so plugins can pass ``**kwargs`` up.
    """

    short_name: ClassVar[Any] = _ShortNameAttribute()
    #: How many electrons one adaptor may run at once with this executor.
    max_concurrency: int = 8
    #: True when the executor captures the electron's stdout/stderr itself and reports it
    #: through the TaskControl (it runs the function in another process); False when the
    #: function runs in the adaptor's process and the adaptor must capture it.
    captures_output: ClassVar[bool] = False
    SUPPORTS_MANAGED_EXECUTION: ClassVar[bool] = False  # Covalent's flag; never managed here

    def __init__(
        self,
        log_stdout: str = "",
        log_stderr: str = "",
        cache_dir: str = "",
        time_limit: int | float = -1,
        retries: int = 0,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.log_stdout = log_stdout
        self.log_stderr = log_stderr
        self.cache_dir = cache_dir
        self.time_limit = time_limit
        self.retries = retries
        max_concurrency = kwargs.pop("max_concurrency", None)
        if max_concurrency is not None:
            if int(max_concurrency) < 1:
                raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency!r}")
            self.max_concurrency = int(max_concurrency)

    # ----- identity

    def config(self) -> dict[str, Any]:
        """The settings that identify this configured instance.

        Electrons whose executors have the same type and the same config share one
        adaptor. The default is every public instance attribute; override it when some
        attribute is not a setting.
        """
        return {k: v for k, v in sorted(vars(self).items()) if not k.startswith("_")}

    def to_dict(self) -> dict[str, Any]:
        """Covalent's JSON-friendly form: ``{type, short_name, attributes}``."""
        return {
            "type": str(type(self)),
            "short_name": short_name_of(self),
            "attributes": copy.deepcopy(self.__dict__),
        }

    def from_dict(self, object_dict: dict[str, Any]) -> _AbstractBaseExecutor:
        """Overwrite this instance's attributes from :meth:`to_dict` output; returns self."""
        if object_dict:
            self.__dict__ = copy.deepcopy(object_dict["attributes"])
        return self

    # ----- per-task state (through the current TaskControl)

    @property
    def task_stdout(self) -> io.StringIO:
        """Where the running task's stdout goes (the current TaskControl's buffer)."""
        control = current_control.get()
        return control.stdout if control is not None else io.StringIO()

    @property
    def task_stderr(self) -> io.StringIO:
        """Where the running task's stderr goes (the current TaskControl's buffer)."""
        control = current_control.get()
        return control.stderr if control is not None else io.StringIO()

    def remote_host(self) -> str | None:
        """The host this executor runs electrons on, when not this Ray cluster
        (``user@host:port`` for SSH and Slurm; shown with the electron and by ``status``)."""
        return None

    def check_settings(self) -> list[str]:
        """What is wrong with this executor's settings, one message per setting (checked
        when a dispatch is submitted, before any electron runs; pure: no connection)."""
        return []

    def resumed_job_handle(self) -> Any:
        """The job handle an interrupted earlier run of this electron recorded (None
        when there was none): a remote executor finds that job again, waits for it and
        returns its output, instead of starting the electron a second time."""
        control = current_control.get()
        return control.resume_handle if control is not None else None

    def _set_handle(self, handle: Any) -> bool:
        control = current_control.get()
        if control is None:  # run() called directly, outside any adaptor: nothing to record
            return False
        control.job_handle = handle
        if control.on_handle is not None:
            try:
                control.on_handle(handle)
            except Exception:  # recording where the job runs must never fail the job
                pass
        return True

    @staticmethod
    def _cancel_requested() -> bool:
        control = current_control.get()
        return bool(control is not None and control.cancel_requested)

    def _stream_targets(self, dispatch_id: str, results_dir: str) -> list[tuple[str, Path]]:
        targets = []
        for text_attr, path in (("stdout", self.log_stdout), ("stderr", self.log_stderr)):
            if path:
                p = Path(path).expanduser()
                if not p.is_absolute():
                    p = Path(results_dir or ".") / dispatch_id / p
                targets.append((text_attr, p))
        return targets

    def _write_streams(
        self,
        stream_strings: tuple[str, str],
        filepaths: tuple[str, str],
        dispatch_id: str,
        results_dir: str,
    ) -> None:
        saved = self.log_stdout, self.log_stderr
        self.log_stdout, self.log_stderr = filepaths
        try:
            texts = dict(zip(("stdout", "stderr"), stream_strings))
            for which, target in self._stream_targets(dispatch_id, results_dir):
                if texts[which]:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "a") as f:
                        f.write(texts[which])
        finally:
            self.log_stdout, self.log_stderr = saved

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({settings})"


class BaseExecutor(_AbstractBaseExecutor):
    """An executor whose methods are synchronous; the adaptor runs them in threads."""

    def setup(self, task_metadata: dict[str, Any]) -> Any:
        """Prepare the executor (once per adaptor, before its first electron)."""

    @abstractmethod
    def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Run ``function(*args, **kwargs)`` and return its output."""
        raise NotImplementedError

    def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        """Stop the job ``job_handle``; return whether it was stopped (default: cannot)."""
        return False

    def teardown(self, task_metadata: dict[str, Any]) -> Any:
        """Release what :meth:`setup` acquired (once per adaptor, at its end)."""

    def set_job_handle(self, handle: Any) -> bool:
        """Record the running task's job handle (what :meth:`cancel` will receive)."""
        return self._set_handle(handle)

    def get_cancel_requested(self) -> bool:
        """Whether cancelling the running task has been requested."""
        return self._cancel_requested()

    def write_streams_to_file(
        self,
        stream_strings: tuple[str, str],
        filepaths: tuple[str, str],
        dispatch_id: str,
        results_dir: str,
    ) -> None:
        """Append ``(stdout, stderr)`` to the files ``filepaths`` (Covalent's helper)."""
        self._write_streams(stream_strings, filepaths, dispatch_id, results_dir)


class AsyncBaseExecutor(_AbstractBaseExecutor):
    """An executor whose methods are coroutines; the adaptor awaits them on its loop."""

    max_concurrency: int = 64  # waiting costs an asyncio task, not a thread

    async def setup(self, task_metadata: dict[str, Any]) -> Any:
        """Prepare the executor (once per adaptor, before its first electron)."""

    @abstractmethod
    async def run(
        self,
        function: Callable[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        task_metadata: dict[str, Any],
    ) -> Any:
        """Run ``function(*args, **kwargs)`` and return its output."""
        raise NotImplementedError

    async def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        """Stop the job ``job_handle``; return whether it was stopped (default: cannot)."""
        return False

    async def teardown(self, task_metadata: dict[str, Any]) -> Any:
        """Release what :meth:`setup` acquired (once per adaptor, at its end)."""

    async def set_job_handle(self, handle: Any) -> bool:
        """Record the running task's job handle (what :meth:`cancel` will receive)."""
        return self._set_handle(handle)

    async def get_cancel_requested(self) -> bool:
        """Whether cancelling the running task has been requested."""
        return self._cancel_requested()

    async def write_streams_to_file(
        self,
        stream_strings: tuple[str, str],
        filepaths: tuple[str, str],
        dispatch_id: str,
        results_dir: str,
    ) -> None:
        """Append ``(stdout, stderr)`` to the files ``filepaths`` (Covalent's helper)."""
        import asyncio

        await asyncio.to_thread(
            self._write_streams, stream_strings, filepaths, dispatch_id, results_dir
        )


AnyExecutor = BaseExecutor | AsyncBaseExecutor


# --------------------------------------------------------------------------- adaptor helpers


def config_key(executor: AnyExecutor) -> str:
    """A stable string for "same type and same config": electrons with equal keys share an adaptor.

    Values that are not JSON are compared by ``repr``.
    """
    import json

    cls = type(executor)
    # Called through the class, so an instance attribute named ``config`` cannot shadow it.
    settings = cls.config(executor)
    return json.dumps(
        {"type": f"{cls.__module__}.{cls.__qualname__}", "config": settings},
        sort_keys=True,
        default=repr,
    )


def default_max_concurrency() -> int:
    """One electron per CPU: the default for executors that run electrons as local processes."""
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )
