"""Running an electron's deps and hooks where the electron runs.

:func:`wrap_with_hooks` turns an electron's function and its ``hooks`` dict (keys
``deps_bash``, ``deps_pip``, ``call_before``, ``call_after``, ``files``) into one
picklable callable that runs, in order: bash commands, pip installs, the file transfers'
preparation and their ``BEFORE`` transfers, ``call_before``, the function (with Covalent's
``files`` keyword argument), ``AFTER`` transfers, ``call_after``. A failing dep raises
``DepsError`` naming the dep, the electron and the reason (command, exit code, end of its
stderr); a failing transfer raises ``FileTransferError`` naming the file too.

The hooks hold :mod:`covalent_ray.sdk.deps` objects or Covalent's short forms (a command
string or list for ``deps_bash``, package names for ``deps_pip``, plain functions for
calls); they are recognised by their fields, so this module needs nothing of the SDK.

File transfers are ``ct.fs.FileTransfer`` objects (or anything with Covalent's ``cp()``
and ``order``): ``cp()`` gives the preparation and the transfer callables, made here,
where the electron runs, from :mod:`covalent_ray.transfer` (shipped by value with the
wrapper, so they run on hosts without covalent-ray).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import DepsError, FileTransferError
from ..core.messages import electron_label

RESERVED_RETVAL_KEY_FILES = "files"
TAIL = 2000  # characters of a failing command's output quoted in the error


# --------------------------------------------------------------------------- bash


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def run_bash_commands(commands: Sequence[str]) -> None:
    """Run each command in a shell, in order; raise ``DepsError`` at the first failure.

    Their output is copied to this process's stdout/stderr, so it shows in the electron's
    captured output.
    """
    for command in commands:
        proc = subprocess.run(
            command,
            shell=True,
            executable=_shell(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
        )
        if proc.stdout:
            sys.stdout.write(proc.stdout)
        if proc.stderr:
            sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "")[-TAIL:].rstrip()
            raise DepsError(
                f"bash command {command!r} exited with code {proc.returncode}"
                + (f"; its output ends with:\n{tail}" if tail else " (no output)")
            )


# --------------------------------------------------------------------------- pip


def _satisfied(requirements: Iterable[str]) -> bool:
    """Whether every requirement is a plain name/specifier already installed here.

    Anything else (a path, a URL, an option line, an unparsable entry) counts as not
    satisfied, so pip decides.
    """
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # no packaging: let pip check
        return False
    importlib.invalidate_caches()
    for line in requirements:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return False
        if req.url:
            return False
        if req.marker is not None and not req.marker.evaluate():
            continue  # the marker excludes this environment: nothing to install
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            return False
    return True


def _pip_lock_path() -> Path:
    digest = hashlib.sha256(sys.prefix.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"covalent-ray-pip-{digest}.lock"


def _run_pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m pip install <args>`` with the running interpreter."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        *args,
    ]
    return subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace"
    )


def install_pip_packages(packages: Sequence[str], requirements_content: str = "") -> None:
    """Install packages (and a requirements file's content) into this interpreter's environment.

    Electrons running at once in one environment take turns (a file lock), and each
    re-checks after waiting, so a package is installed once.
    """
    wanted = list(packages) + requirements_content.splitlines()
    if not any(w.strip() and not w.strip().startswith("#") for w in wanted):
        return
    if _satisfied(wanted):
        return
    import fcntl

    with open(_pip_lock_path(), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _satisfied(wanted):
                return
            reqs_file = None
            try:
                args = list(packages)
                if requirements_content:
                    fd, reqs_file = tempfile.mkstemp(prefix="covalent-ray-reqs-", suffix=".txt")
                    with os.fdopen(fd, "w") as f:
                        f.write(requirements_content)
                    args += ["-r", reqs_file]
                proc = _run_pip(args)
            finally:
                if reqs_file:
                    Path(reqs_file).unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if proc.returncode != 0:
        output = proc.stderr or proc.stdout or ""
        if "No module named pip" in output:
            raise DepsError(
                f"pip is not available in {sys.executable}: install pip there, or "
                "install the packages into that environment beforehand"
            )
        tail = output[-TAIL:].rstrip()
        raise DepsError(
            f"pip install of {wanted!r} into {sys.prefix} exited with code "
            f"{proc.returncode}; its output ends with:\n{tail}"
        )
    importlib.invalidate_caches()  # make the new packages importable in this process


# --------------------------------------------------------------------------- the wrapper


@dataclass(frozen=True)
class Step:
    """One dep to run: ``function(*args, **kwargs)``; its value becomes ``retval_keyword``."""

    label: str
    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retval_keyword: str = ""
    transfer: bool = False  # a file transfer's step: fails with FileTransferError


def _describe(dep: Any) -> str:
    describe = getattr(dep, "describe", None)
    return str(describe()) if callable(describe) else repr(dep)


def bash_step(value: Any) -> Step | None:
    """The step for ``deps_bash``: a DepsBash, a command, or a list of either."""
    if not value:
        return None
    items = [value] if isinstance(value, str) or hasattr(value, "commands") else list(value)
    commands: list[str] = []
    for item in items:
        commands.extend(item.commands if hasattr(item, "commands") else [str(item)])
    return Step(f"deps_bash {commands!r}", run_bash_commands, (commands,))


def pip_step(value: Any) -> Step | None:
    """The step for ``deps_pip``: a DepsPip, or package names."""
    if not value:
        return None
    if hasattr(value, "packages"):
        return Step(
            _describe(value),
            install_pip_packages,
            (list(value.packages), str(getattr(value, "requirements_content", ""))),
        )
    packages = [value] if isinstance(value, str) else [str(v) for v in value]
    return Step(f"deps_pip {packages!r}", install_pip_packages, (packages, ""))


def call_steps(value: Any, where: str) -> list[Step]:
    """The steps for ``call_before`` / ``call_after``: DepsCall objects or functions."""
    if not value:
        return []
    items = [value] if hasattr(value, "apply") or callable(value) else list(value)
    steps: list[Step] = []
    for item in items:
        if hasattr(item, "apply"):
            fn, args, kwargs, keyword = item.apply()
            if fn is None:  # a DepsBash / DepsPip among the calls runs in its place (Covalent)
                dep = bash_step(item) if hasattr(item, "commands") else pip_step(item)
                if dep is not None:
                    steps.append(Step(f"{where} {dep.label}", dep.function, dep.args))
            else:
                steps.append(
                    Step(f"{where} {_describe(item)}", fn, tuple(args), dict(kwargs), keyword)
                )
        elif callable(item):  # a bare function: called with no arguments
            name = getattr(item, "__qualname__", None) or repr(item)
            steps.append(Step(f"{where} DepsCall {name}", item))
        else:
            raise TypeError(f"{where} items must be DepsCall objects or functions, not {item!r}")
    return steps


def _refuse(error: BaseException) -> None:
    raise error


def file_steps(value: Any) -> tuple[list[Step], list[Step]]:
    """The steps of ``files``: ``(before, after)``.

    Before: each transfer's preparation (its value is the electron's ``files`` entry) and
    the ``BEFORE`` transfers, in the order given; after: the ``AFTER`` transfers. A
    transfer whose callables cannot be made fails when the electron runs, naming it.
    """
    if not value:
        return [], []
    from .. import transfer

    transfer.ship_by_value()  # its actions must unpickle on hosts without covalent-ray
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    before: list[Step] = []
    after: list[Step] = []
    for item in items:
        label = _describe(item)
        try:
            prepare, action = item.cp()
        except Exception as exc:
            before.append(Step(label, _refuse, (exc,), transfer=True))
            continue
        before.append(Step(label, prepare, retval_keyword=RESERVED_RETVAL_KEY_FILES, transfer=True))
        order = getattr(getattr(item, "order", "before"), "value", getattr(item, "order", ""))
        (after if order == "after" else before).append(Step(label, action, transfer=True))
    return before, after


def accepts_files(function: Any) -> bool:
    """Whether ``function`` takes Covalent's ``files`` keyword argument.

    A callable may say so with an ``accepts_files`` attribute (leptons do not take it);
    otherwise its signature decides, and an unreadable signature counts as yes.
    """
    declared = getattr(function, "accepts_files", None)
    if declared is not None:
        return bool(declared)
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == RESERVED_RETVAL_KEY_FILES and p.kind is not p.POSITIONAL_ONLY)
        for p in parameters
    )


class HookedFunction:
    """An electron's function with its deps and hooks; picklable, runs them when called."""

    def __init__(
        self, function: Callable[..., Any], hooks: dict[str, Any], task_metadata: dict[str, Any]
    ) -> None:
        self.function = function
        self.task_metadata = dict(task_metadata)
        self.setup = [
            s
            for s in (bash_step(hooks.get("deps_bash")), pip_step(hooks.get("deps_pip")))
            if s is not None
        ]
        files_before, files_after = file_steps(hooks.get("files"))
        self.call_before = files_before + call_steps(hooks.get("call_before"), "call_before")
        self.call_after = files_after + call_steps(hooks.get("call_after"), "call_after")
        self.pass_files = accepts_files(function)
        self.__name__ = getattr(function, "__name__", type(function).__name__)
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)
        self.__doc__ = getattr(function, "__doc__", None)
        self.__wrapped__ = function

    def _run(self, step: Step) -> Any:
        try:
            return step.function(*step.args, **step.kwargs)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DepsError) else f"{type(exc).__name__}: {exc}"
            label = electron_label(self.task_metadata, self.function)
            error = FileTransferError if step.transfer else DepsError
            raise error(f"{step.label} of {label} failed: {reason}") from exc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for step in self.setup:
            self._run(step)
        retvals: dict[str, list[Any]] = {}
        for step in self.call_before:
            value = self._run(step)
            if step.retval_keyword:
                retvals.setdefault(step.retval_keyword, []).append(value)
        for key, values in retvals.items():
            # One call per keyword gives its value, several give the list (files: always a list).
            if key == RESERVED_RETVAL_KEY_FILES and not self.pass_files:
                continue  # a function without a ``files`` parameter runs without it
            single = len(values) == 1 and key != RESERVED_RETVAL_KEY_FILES
            kwargs[key] = values[0] if single else values
        output = self.function(*args, **kwargs)
        for step in self.call_after:
            self._run(step)
        return output

    def __repr__(self) -> str:
        return f"<{self.__qualname__} with deps and hooks>"


def wrap_with_hooks(
    function: Callable[..., Any], hooks: dict[str, Any] | None, task_metadata: dict[str, Any]
) -> Callable[..., Any]:
    """``function`` wrapped so its deps and hooks run around it wherever it is called.

    The result is picklable (it travels to subprocesses and other nodes). With no hooks,
    ``function`` itself is returned: electrons without deps pay nothing.
    """
    if not hooks or not any(
        hooks.get(k) for k in ("deps_bash", "deps_pip", "call_before", "call_after", "files")
    ):
        return function
    return HookedFunction(function, hooks, task_metadata)
