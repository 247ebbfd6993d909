"""Deps and hooks: what runs around an electron, wherever the electron runs.

- ``DepsBash(commands)``: shell commands (run by bash, else sh) in the electron's cwd;
- ``DepsPip(packages, reqs_path)``: packages installed into the interpreter that runs the
  electron (``python -m pip install``); requirements already satisfied cost a metadata
  lookup, not a pip run;
- ``DepsCall(func, args, kwargs, retval_keyword=)``: a function called before or after
  the electron; with ``retval_keyword`` its return value becomes that keyword argument
  of the electron (a keyword given by several calls receives the list of their values);
- ``DepsModule(module)``: a module shipped by value, importable where the electron runs
  even if that machine lacks its file.

:func:`wrap_with_hooks` turns an electron's function and its ``hooks`` dict (keys
``deps_bash``, ``deps_pip``, ``call_before``, ``call_after``, ``files``) into one
picklable callable that runs, in order: bash commands, pip installs, ``call_before``,
the function, ``call_after``. A failing dep raises ``DepsError`` naming the dep, the
electron and the reason (command, exit code, end of its stderr).

Not supported: Covalent's ``files=`` (``FileTransfer`` objects). An electron that
sets it fails with a ``DepsError`` saying so, rather than running without its files.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .._exceptions import DepsError

RESERVED_RETVAL_KEY_FILES = "files"
TAIL = 2000  # characters of a failing command's output quoted in the error


class Deps:
    """A dependency of an electron: a function to call in its execution environment.

    ``apply()`` gives ``(function, args, kwargs, retval_keyword)``, as in Covalent;
    ``invoke()`` calls it.
    """

    def __init__(self, apply_fn: Callable[..., Any] | None = None,
                 apply_args: Sequence[Any] = (), apply_kwargs: dict[str, Any] | None = None,
                 *, retval_keyword: str = "") -> None:
        self.apply_fn = apply_fn
        self.apply_args = list(apply_args)
        self.apply_kwargs = dict(apply_kwargs or {})
        self.retval_keyword = retval_keyword

    def apply(self) -> tuple[Callable[..., Any] | None, list[Any], dict[str, Any], str]:
        """The function, its arguments and the keyword its return value is injected as."""
        return self.apply_fn, self.apply_args, self.apply_kwargs, self.retval_keyword

    def invoke(self) -> Any:
        """Run the dependency here and return its value."""
        if self.apply_fn is None:
            return None
        return self.apply_fn(*self.apply_args, **self.apply_kwargs)

    def describe(self) -> str:
        """How error messages name this dep."""
        return type(self).__name__

    def short_name(self) -> str:
        """Covalent's name for the kind of dep."""
        return type(self).__name__.lower()


# --------------------------------------------------------------------------- bash


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def run_bash_commands(commands: Sequence[str]) -> None:
    """Run each command in a shell, in order; raise ``DepsError`` at the first failure.

    Their output is copied to this process's stdout/stderr, so it shows in the electron's
    captured output.
    """
    for command in commands:
        proc = subprocess.run(command, shell=True, executable=_shell(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace")
        if proc.stdout:
            sys.stdout.write(proc.stdout)
        if proc.stderr:
            sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "")[-TAIL:].rstrip()
            raise DepsError(f"bash command {command!r} exited with code {proc.returncode}"
                            + (f"; its output ends with:\n{tail}" if tail else " (no output)"))


class DepsBash(Deps):
    """Shell commands to run before the electron, in its working directory."""

    def __init__(self, commands: Sequence[str] | str = ()) -> None:
        self.commands = [commands] if isinstance(commands, str) else list(commands)
        super().__init__(run_bash_commands, [self.commands])

    def describe(self) -> str:
        return f"deps_bash {self.commands!r}"

    def __repr__(self) -> str:
        return f"DepsBash({self.commands!r})"


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
    import hashlib

    digest = hashlib.sha256(sys.prefix.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"covalent-ray-pip-{digest}.lock"


def _run_pip(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m pip install <args>`` with the running interpreter."""
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
               "--no-input", *args]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace")


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
        output = (proc.stderr or proc.stdout or "")
        if "No module named pip" in output:
            raise DepsError(f"pip is not available in {sys.executable}: install pip there, or "
                            "install the packages into that environment beforehand")
        tail = output[-TAIL:].rstrip()
        raise DepsError(f"pip install of {wanted!r} into {sys.prefix} exited with code "
                        f"{proc.returncode}; its output ends with:\n{tail}")
    importlib.invalidate_caches()  # make the new packages importable in this process


class DepsPip(Deps):
    """PyPI packages to install where the electron runs, before it runs.

    ``reqs_path`` is read here, when the dep is created, so the file need not exist on
    the machine that runs the electron.
    """

    def __init__(self, packages: Sequence[str] | str = (), reqs_path: str = "") -> None:
        self.packages = [packages] if isinstance(packages, str) else list(packages)
        self.reqs_path = str(reqs_path)
        self.requirements_content = Path(reqs_path).read_text() if reqs_path else ""
        super().__init__(install_pip_packages, [self.packages, self.requirements_content])

    def describe(self) -> str:
        what = repr(self.packages) if self.packages else ""
        if self.reqs_path:
            what = f"{what} + {self.reqs_path}" if what else self.reqs_path
        return f"deps_pip {what}"

    def __repr__(self) -> str:
        return f"DepsPip(packages={self.packages!r}, reqs_path={self.reqs_path!r})"


# --------------------------------------------------------------------------- calls and modules


class DepsCall(Deps):
    """A function called in the electron's environment, before or after it.

    With ``retval_keyword``, its return value is passed to the electron as that keyword
    argument (give the electron's parameter a default). ``files`` is reserved.
    """

    def __init__(self, func: Callable[..., Any] | None = None, args: Sequence[Any] = (),
                 kwargs: dict[str, Any] | None = None, *, retval_keyword: str = "",
                 override_reserved_retval_keys: bool = False) -> None:
        if retval_keyword == RESERVED_RETVAL_KEY_FILES and not override_reserved_retval_keys:
            raise ValueError(f"retval_keyword {retval_keyword!r} is reserved (Covalent passes "
                             "transferred files under it); choose another name")
        super().__init__(func, args or (), kwargs, retval_keyword=retval_keyword)

    @property
    def func(self) -> Callable[..., Any] | None:
        """The function called."""
        return self.apply_fn

    def describe(self) -> str:
        name = getattr(self.apply_fn, "__qualname__", None) or repr(self.apply_fn)
        return f"DepsCall {name}"

    def __repr__(self) -> str:
        return (f"DepsCall({self.describe()[len('DepsCall '):]}, args={self.apply_args!r}, "
                f"kwargs={self.apply_kwargs!r}, retval_keyword={self.retval_keyword!r})")


def _install_module(name: str, module: ModuleType) -> None:
    """Make ``import <name>`` give ``module`` here, unless a real module of that name exists."""
    if name in sys.modules:
        return
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        sys.modules[name] = module


def _register_by_value(module: ModuleType) -> None:
    """Have cloudpickle ship ``module``'s functions and classes by value from now on."""
    import cloudpickle

    if module.__name__.split(".", 1)[0] in sys.stdlib_module_names:
        return  # the standard library is everywhere (and partly not picklable by value)
    if sys.modules.get(module.__name__) is module:  # cloudpickle requires it imported
        cloudpickle.register_pickle_by_value(module)


def _module_payload(module: ModuleType) -> bytes:
    """The module pickled by value (its functions and classes with it)."""
    import cloudpickle

    _register_by_value(module)
    data: bytes = cloudpickle.dumps(module)
    return data


def _rebuild_deps_module(name: str, payload: bytes) -> DepsModule:
    import cloudpickle

    dep = DepsModule.__new__(DepsModule)
    DepsModule._init(dep, name, cloudpickle.loads(payload))
    return dep


class DepsModule(DepsCall):
    """A Python module shipped with the electron, by value.

    Creating it registers the module for by-value pickling (so the electron's own
    functions from that module travel with their code, not as an import), and running it
    before the electron makes ``import <module>`` work there even without the file.
    """

    def __init__(self, module: ModuleType | str) -> None:
        if isinstance(module, str):
            module = importlib.import_module(module)
        _register_by_value(module)  # now, before the electron's function is pickled
        self._init(module.__name__, module)

    def _init(self, name: str, module: ModuleType) -> None:
        DepsCall.__init__(self, _install_module, [name, module])
        self.module_name = name
        self.module = module

    def __reduce__(self) -> tuple[Any, ...]:
        # Always by value: where it was unpickled, the module may be in sys.modules under
        # its name without being importable, and by-reference pickling would import it.
        return (_rebuild_deps_module, (self.module_name, _module_payload(self.module)))

    def describe(self) -> str:
        return f"DepsModule {self.module_name}"

    def short_name(self) -> str:
        return "depsmodule"

    def __repr__(self) -> str:
        return f"DepsModule({self.module_name!r})"


# --------------------------------------------------------------------------- the wrapper


def _as_bash(value: Any) -> DepsBash | None:
    if not value:
        return None
    if isinstance(value, DepsBash):
        return value
    if isinstance(value, str):
        return DepsBash([value])
    items = list(value)
    if all(isinstance(v, DepsBash) for v in items):
        return DepsBash([c for v in items for c in v.commands])
    return DepsBash([str(v) for v in items])


def _as_pip(value: Any) -> DepsPip | None:
    if not value:
        return None
    if isinstance(value, DepsPip):
        return value
    if isinstance(value, str):
        return DepsPip([value])
    return DepsPip([str(v) for v in value])


def _as_calls(value: Any, where: str) -> list[Deps]:
    if not value:
        return []
    items = [value] if isinstance(value, Deps) or callable(value) else list(value)
    calls: list[Deps] = []
    for item in items:
        if isinstance(item, Deps):
            calls.append(item)
        elif callable(item):  # a bare function: called with no arguments
            calls.append(DepsCall(item))
        else:
            raise TypeError(f"{where} items must be DepsCall objects or functions, not {item!r}")
    return calls


def _label(task_metadata: dict[str, Any], function: Any) -> str:
    name = task_metadata.get("node_name") or getattr(function, "__name__", "electron")
    parts = [f"electron {name!r}"]
    if task_metadata.get("node_id") is not None:
        parts.append(f"(node {task_metadata['node_id']}")
        if task_metadata.get("dispatch_id"):
            parts[-1] += f" of dispatch {task_metadata['dispatch_id']}"
        parts[-1] += ")"
    return " ".join(parts)


class HookedFunction:
    """An electron's function with its deps and hooks; picklable, runs them when called."""

    def __init__(self, function: Callable[..., Any], hooks: dict[str, Any],
                 task_metadata: dict[str, Any]) -> None:
        self.function = function
        self.task_metadata = dict(task_metadata)
        self.bash = _as_bash(hooks.get("deps_bash"))
        self.pip = _as_pip(hooks.get("deps_pip"))
        self.call_before = _as_calls(hooks.get("call_before"), "call_before")
        self.call_after = _as_calls(hooks.get("call_after"), "call_after")
        self.files = list(hooks.get("files") or [])
        self.__name__ = getattr(function, "__name__", type(function).__name__)
        self.__qualname__ = getattr(function, "__qualname__", self.__name__)
        self.__doc__ = getattr(function, "__doc__", None)
        self.__wrapped__ = function

    def _fail(self, dep: Deps | str, exc: BaseException) -> DepsError:
        what = dep if isinstance(dep, str) else dep.describe()
        reason = str(exc) if isinstance(exc, DepsError) else f"{type(exc).__name__}: {exc}"
        return DepsError(f"{what} of {_label(self.task_metadata, self.function)} failed: {reason}")

    def _run(self, phase: str, dep: Deps) -> Any:
        try:
            return dep.invoke()
        except Exception as exc:
            raise self._fail(f"{phase} {dep.describe()}" if phase else dep, exc) from exc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.files:
            raise DepsError(f"files= (Covalent FileTransfer) of {_label(self.task_metadata, self.function)} "
                            "is not supported by covalent-ray; move the files in a call_before "
                            "DepsCall or inside the electron instead")
        if self.bash is not None:
            self._run("", self.bash)
        if self.pip is not None:
            self._run("", self.pip)
        retvals: dict[str, list[Any]] = {}
        for dep in self.call_before:
            value = self._run("call_before", dep)
            if dep.retval_keyword:
                retvals.setdefault(dep.retval_keyword, []).append(value)
        for key, values in retvals.items():
            # One call per keyword gives its value, several give the list (files: always a list).
            kwargs[key] = values[0] if len(values) == 1 and key != RESERVED_RETVAL_KEY_FILES else values
        output = self.function(*args, **kwargs)
        for dep in self.call_after:
            self._run("call_after", dep)
        return output

    def __repr__(self) -> str:
        return f"<{self.__qualname__} with deps and hooks>"


def wrap_with_hooks(function: Callable[..., Any], hooks: dict[str, Any] | None,
                    task_metadata: dict[str, Any]) -> Callable[..., Any]:
    """``function`` wrapped so its deps and hooks run around it wherever it is called.

    The result is picklable (it travels to subprocesses and other nodes). With no hooks,
    ``function`` itself is returned: electrons without deps pay nothing.
    """
    if not hooks or not any(hooks.get(k) for k in
                            ("deps_bash", "deps_pip", "call_before", "call_after", "files")):
        return function
    return HookedFunction(function, hooks, task_metadata)
