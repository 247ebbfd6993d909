"""Leptons: electrons whose work is a shell command, a function of another Python module,
or a C function of a shared library (``ct.Lepton``, ``ct.leptons.bash``).

```python
task = ct.Lepton(language="bash", command="product=$(({a} * {b}))",
                 argtypes=[(int, ct.Lepton.INPUT_OUTPUT), (int, ct.Lepton.INPUT_OUTPUT),
                           (int, ct.Lepton.OUTPUT)],
                 named_outputs=["a", "b", "product"])
task(a=7, b=8)        # in a lattice: a node whose output is (7, 8, 56)
```

A lepton is an :class:`~covalent_ray.sdk.electron.Electron` whose function is a
:class:`~covalent_ray.sdk._lepton_task.LeptonTask`; it takes the electron's settings
(``executor``, ``files``, deps, ``call_before``/``call_after``) and runs where any
electron does. As in Covalent, a lepton's ``call_before``/``call_after`` may not use
``retval_keyword``, and the lepton does not receive ``files``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import _lepton_task
from ._lepton_task import PYTHON, SHELL, BashTask, C, LeptonTask
from .electron import Electron

__all__ = ["Lepton", "bash"]


def _as_list(value: Any) -> list[Any]:
    if not value:
        return []
    if hasattr(value, "apply") or callable(value):  # a single DepsCall (or function)
        return [value]
    return list(value)


def _no_retval_keywords(calls: Sequence[Any], where: str) -> None:
    for call in calls:
        keyword = getattr(call, "retval_keyword", "")
        if keyword and keyword != "files":
            raise ValueError(
                f"{where}: DepsCall retval_keyword {keyword!r} is not supported for leptons "
                "(their command or foreign function takes no injected arguments); remove "
                "retval_keyword from the DepsCall"
            )


def _ship_by_value() -> None:
    """The lepton's runner travels by value: it runs on hosts without covalent-ray."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[_lepton_task.__name__])


class Lepton(Electron):
    """A task written in another language, or in a Python module named by its path.

    ``language``: ``"python"``, ``"C"`` or ``"bash"``/``"shell"``; ``library_name`` and
    ``function_name`` locate a function (a module or ``.py`` file, a shared library, a
    shell script to ``source``); a shell lepton may give a ``command`` instead, formatted
    with its keyword arguments (``{name}``), which it also receives as environment
    variables. ``argtypes`` lists ``(type, Lepton.INPUT | OUTPUT | INPUT_OUTPUT)``;
    ``named_outputs`` names the shell variables returned (one per OUTPUT and
    INPUT_OUTPUT argtype, converted to its type).
    """

    INPUT = _lepton_task.INPUT
    OUTPUT = _lepton_task.OUTPUT
    INPUT_OUTPUT = _lepton_task.INPUT_OUTPUT

    def __init__(
        self,
        language: str = "python",
        *,
        library_name: str = "",
        function_name: str = "",
        argtypes: Sequence[tuple[Any, int]] = (),
        command: str | Sequence[str] = "",
        named_outputs: Sequence[str] = (),
        display_name: str = "",
        executor: Any = None,
        files: Sequence[Any] = (),
        deps_bash: Any = None,
        deps_pip: Any = None,
        call_before: Any = (),
        call_after: Any = (),
    ) -> None:
        if language not in (*PYTHON, *C, *SHELL):
            raise ValueError(
                f"Lepton language {language!r} is not supported: use 'python', 'C' or 'bash'"
            )
        if language in (*PYTHON, *SHELL):
            if command and library_name:
                raise ValueError(
                    "Lepton: give either library_name (with function_name) or command, not both"
                )
            if not (command or library_name):
                raise ValueError(f"Lepton ({language}): give library_name or command")
        else:
            if command:
                raise ValueError(f"Lepton: command= does not apply to language {language!r}")
            if named_outputs:
                raise ValueError(f"Lepton: named_outputs= does not apply to language {language!r}")
        if library_name and not function_name:
            raise ValueError(
                f"Lepton: library_name {library_name!r} needs the function_name to call in it"
            )
        before, after = _as_list(call_before), _as_list(call_after)
        _no_retval_keywords(before + after, f"Lepton {display_name or function_name or command!r}")
        self.language = language
        self.library_name = library_name
        self.function_name = function_name
        # types are kept by name: not every type object pickles
        self.argtypes = [(getattr(t, "__name__", str(t)), d) for t, d in argtypes]
        self.command = command
        self.named_outputs = list(named_outputs)
        self.display_name = display_name
        _ship_by_value()
        task = LeptonTask(
            language,
            library_name,
            function_name,
            self.argtypes,
            command,
            self.named_outputs,
            display_name,
        )
        super().__init__(
            task,
            executor=executor,
            deps_bash=deps_bash,
            deps_pip=deps_pip,
            call_before=before,
            call_after=after,
            files=list(files or []),
        )

    def __repr__(self) -> str:
        return f"<lepton {self.name} ({self.language})>"


def bash(
    _func: Callable[..., str] | None = None,
    *,
    display_name: str = "",
    executor: Any = None,
    files: Sequence[Any] = (),
    deps_bash: Any = None,
    deps_pip: Any = None,
    call_before: Any = (),
    call_after: Any = (),
) -> Any:
    """Decorate a function returning a shell command: calling it makes an electron that
    runs the command with bash (its output in the electron's stdout and stderr; a
    non-zero exit fails the electron with the status and stderr).

    The function is called where the electron runs, with the electron's inputs, so its
    arguments may be other electrons' outputs. The node is named ``display_name`` (else
    the function's name).
    """
    before, after = _as_list(call_before), _as_list(call_after)

    def decorate(func: Callable[..., str]) -> Callable[..., Any]:
        where = f"bash lepton {display_name or func.__name__!r}"
        _ship_by_value()
        node = Electron(
            BashTask(func, display_name),
            executor=executor,
            deps_bash=deps_bash,
            deps_pip=deps_pip,
            call_before=before,
            call_after=after,
            files=list(files or []),
        )

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # as in Covalent, the lepton is refused when it is made (the lattice is built,
            # so ct.dispatch raises), not when the function is decorated
            _no_retval_keywords(before + after, where)
            return node(*args, **kwargs)

        wrapper.electron_object = node  # type: ignore[attr-defined]
        return wrapper

    return decorate(_func) if _func is not None else decorate
