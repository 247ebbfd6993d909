"""What a lepton runs where it runs: a shell command or script, a Python function of
another module, or a C function of a shared library (through ``ctypes``).

Self-contained (the standard library only), and pickled by value, so a lepton runs on
any host with Python and cloudpickle. A failure raises ``LeptonError`` (a plain
``RuntimeError`` where covalent-ray is not installed) carrying the command's exit status
and stderr, or naming the library or function that could not be used.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

INPUT, OUTPUT, INPUT_OUTPUT = 0, 1, 2
PYTHON = ("python", "Python")
C = ("c", "C")
SHELL = ("bash", "shell")
MARKER = "COVALENT-LEPTON-OUTPUT-"
TAIL = 4000  # characters of stderr quoted in an error
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _error(message: str) -> Exception:
    try:
        from covalent_ray._exceptions import LeptonError
    except ImportError:  # a host without covalent-ray
        return RuntimeError(message)
    return LeptonError(message)


def _shell() -> str:
    found = shutil.which("bash") or shutil.which("sh")
    if not found:
        raise _error("no shell (bash or sh) found where the lepton runs; install bash there")
    return found


def run_shell(
    label: str, script: str, args: Sequence[Any] = ()
) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Run ``script`` with bash (``$1``... are ``args``); its output is copied to this
    process's stdout and stderr (the electron's), marker lines aside; a non-zero exit
    raises with the status and stderr."""
    proc = subprocess.run(
        [_shell(), "-c", script, "_", *(str(a) for a in args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
    )
    shown = "".join(
        line for line in proc.stdout.splitlines(keepends=True) if not line.startswith(MARKER)
    )
    if shown:
        sys.stdout.write(shown)
        sys.stdout.flush()
    if proc.stderr:
        sys.stderr.write(proc.stderr)
        sys.stderr.flush()
    if proc.returncode != 0:
        stderr = proc.stderr.strip()[-TAIL:]
        raise _error(
            f"{label} exited with status {proc.returncode}"
            + (f"; stderr:\n{stderr}" if stderr else " (no stderr)")
        )
    return shown, proc


class LeptonTask:
    """The callable of a ``ct.Lepton``: picklable, holds names and strings only."""

    accepts_files = False  # Covalent passes leptons no ``files`` argument

    def __init__(
        self,
        language: str,
        library_name: str,
        function_name: str,
        argtypes: Sequence[tuple[str, int]],
        command: str | Sequence[str],
        named_outputs: Sequence[str],
        display_name: str,
    ) -> None:
        self.language = language
        self.library_name = library_name
        self.function_name = function_name
        self.argtypes = [(str(t), int(d)) for t, d in argtypes]
        self.command = command if isinstance(command, str) else " && ".join(command)
        self.named_outputs = list(named_outputs)
        self.display_name = display_name
        name = display_name or function_name or self.command
        self.__name__ = name
        self.__qualname__ = (
            f"Lepton.{display_name}"
            if display_name
            else f"Lepton.{library_name.split('.')[0]}.{function_name}"
        )
        self.__doc__ = (
            f"Lepton interface for {language} function {function_name!r}." if function_name else ""
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.language in PYTHON:
            return self._python(args, kwargs)
        if self.language in C:
            return self._c(args, kwargs)
        if self.language in SHELL:
            return self._shell(args, kwargs)
        raise _error(f"lepton {self.__name__!r}: language {self.language!r} is not supported")

    def _label(self) -> str:
        return f"{self.language} lepton {self.__name__!r}"

    # -- python ---------------------------------------------------------------------

    def _python(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        name = self.library_name
        try:
            if name.endswith(".py"):
                spec = importlib.util.spec_from_file_location(f"lepton_{abs(hash(name))}", name)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {name}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(name)
        except (ImportError, OSError) as exc:
            raise _error(
                f"{self._label()}: cannot import {name!r} where the lepton runs ({exc}); "
                "install it there, ship it with deps_module=, or add its folder to sys.path "
                "in a call_before DepsCall"
            ) from exc
        function = getattr(module, self.function_name, None)
        if not callable(function):
            raise _error(f"{self._label()}: module {name!r} has no function {self.function_name!r}")
        return function(*args, **kwargs)

    # -- C --------------------------------------------------------------------------

    def _c(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import ctypes

        if kwargs:
            raise _error(
                f"{self._label()}: keyword arguments {sorted(kwargs)} cannot be passed to a "
                "C function; pass them positionally"
            )
        try:
            handle = ctypes.CDLL(self.library_name)
        except OSError as exc:
            raise _error(
                f"{self._label()}: cannot open the shared library {self.library_name!r} "
                f"where the lepton runs ({exc}); copy it there (files=) or give its full path"
            ) from exc
        try:
            function = handle[self.function_name]
        except AttributeError as exc:
            raise _error(
                f"{self._label()}: {self.library_name!r} has no function {self.function_name!r}"
            ) from exc
        types = []
        for type_name, _ in self.argtypes:
            if type_name.startswith("LP_"):
                types.append(ctypes.POINTER(getattr(ctypes, type_name[3:])))
            else:
                types.append(getattr(ctypes, type_name))
        function.argtypes = types
        function.restype = None
        c_args: list[Any] = []
        for idx, (kind, (_, direction)) in enumerate(zip(types, self.argtypes)):
            arg = args[idx] if direction != OUTPUT and idx < len(args) else None
            pointer = kind.__name__.startswith("LP_")
            if direction != INPUT and pointer and not hasattr(arg, "__getitem__"):
                c_args.append(ctypes.pointer(kind._type_(arg) if arg else kind._type_()))
            elif pointer and hasattr(arg, "__getitem__"):
                c_args.append((kind._type_ * len(arg))(*arg))  # type: ignore[arg-type,misc]
            elif direction == INPUT:
                c_args.append(kind(arg))
            else:
                raise _error(
                    f"{self._label()}: argument {idx} ({kind.__name__}) must be a pointer "
                    "type to be an output"
                )
        function(*c_args)
        values: list[Any] = []
        for value, (_, direction) in zip(c_args, self.argtypes):
            if direction == INPUT:
                continue
            if hasattr(value, "contents"):
                values.append(value.contents.value)
            else:
                values.append([getattr(x, "value", x) for x in value])
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    # -- shell ----------------------------------------------------------------------

    def _shell(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        directions = [d for _, d in self.argtypes]
        n_inout = directions.count(INPUT_OUTPUT)
        n_out = directions.count(OUTPUT)
        if n_inout + n_out != len(self.named_outputs):
            raise _error(
                f"{self._label()}: expecting {n_inout + n_out} named outputs (one per "
                f"OUTPUT and INPUT_OUTPUT argtype), got {len(self.named_outputs)}"
            )
        if n_inout != len(kwargs):
            raise _error(
                f"{self._label()}: expecting {n_inout} keyword arguments (one per "
                f"INPUT_OUTPUT argtype), got {len(kwargs)}"
            )
        bad = [k for k in [*kwargs, *self.named_outputs] if not _NAME.match(k)]
        if bad:
            raise _error(f"{self._label()}: {bad} are not valid shell variable names")
        exports = "".join(f"export {k}={shlex.quote(str(v))} && " for k, v in kwargs.items())
        outputs = "".join(f' && echo "{MARKER}{o}: ${o}"' for o in self.named_outputs)
        if self.command:
            script = f"{exports}{self.command.format(**kwargs)}{outputs}"
            shown, proc = run_shell(self._label(), script, args)
        else:
            quoted = " ".join(shlex.quote(str(a)) for a in args)
            script = (
                f"{exports}source {shlex.quote(self.library_name)} && "
                f"{self.function_name} {quoted}{outputs}"
            )
            shown, proc = run_shell(self._label(), script)
        types = [t for t, d in self.argtypes if d != INPUT]
        values: list[Any] = []
        lines = proc.stdout.splitlines()
        for name, type_name in zip(self.named_outputs, types):
            prefix = f"{MARKER}{name}: "
            for line in lines:
                if line.startswith(prefix):
                    cast: Callable[[str], Any] = getattr(builtins, type_name, str)
                    values.append(cast(line[len(prefix) :]))
                    break
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)


class BashTask:
    """The callable of ``@ct.leptons.bash``: calls the decorated function with the
    electron's inputs to get the command, then runs it with bash."""

    accepts_files = False

    def __init__(self, function: Callable[..., str], display_name: str = "") -> None:
        self.command_function = function  # not ``function``: Electron copies this dict
        self.display_name = display_name
        self.__name__ = display_name or getattr(function, "__name__", "bash")
        self.__qualname__ = f"Lepton.{self.__name__}"
        self.__doc__ = getattr(function, "__doc__", None)

    @property
    def __signature__(self) -> inspect.Signature:
        """The decorated function's: its parameters are the electron's."""
        return inspect.signature(self.command_function)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        command = self.command_function(*args, **kwargs)
        if isinstance(command, (list, tuple)):
            command = " && ".join(str(c) for c in command)
        if not isinstance(command, str) or not command.strip():
            raise _error(
                f"bash lepton {self.__name__!r}: the decorated function must return the "
                f"command to run (a string), not {command!r}"
            )
        run_shell(f"bash lepton {self.__name__!r} (`{command}`)", command)
        return None
