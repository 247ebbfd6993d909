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

These classes only describe what to do; :mod:`covalent_ray.runtime.hooks` runs them,
around the electron, where it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

RESERVED_RETVAL_KEY_FILES = "files"


def _json_plain(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_json_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_plain(v, depth + 1) for k, v in value.items())
    return False


def as_hook_list(calls: Any) -> list[Any]:
    """``call_before=`` / ``call_after=`` as a list: Covalent takes one ``DepsCall`` (or a
    plain function) as well as a list or tuple of them; ``None`` means none."""
    if calls is None:
        return []
    if isinstance(calls, (list, tuple)):
        return list(calls)
    return [calls]


class Deps:
    """A dependency of an electron: a function to call in its execution environment.

    ``apply()`` gives ``(function, args, kwargs, retval_keyword)``, as in Covalent, and
    ``invoke()`` calls it; ``DepsBash`` and ``DepsPip`` carry data instead (their function
    is ``None``: the runtime knows how to run commands and install packages).
    """

    def __init__(
        self,
        apply_fn: Callable[..., Any] | None = None,
        apply_args: Sequence[Any] = (),
        apply_kwargs: dict[str, Any] | None = None,
        *,
        retval_keyword: str = "",
    ) -> None:
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

    def to_dict(self) -> dict[str, Any]:
        """Covalent's JSON-friendly form: ``{type, short_name, attributes}``, functions and
        other non-JSON values as ``TransportableObject.to_dict()`` forms."""
        import base64

        from .. import _serialize

        attributes: dict[str, Any] = {}
        for key, value in vars(self).items():
            if _json_plain(value):
                attributes[key] = value
            else:
                data = _serialize.dumps(value, f"{key} of {self.describe()}")
                attributes[key] = {
                    "type": "TransportableObject",
                    "attributes": {
                        "_object": base64.b64encode(data).decode("ascii"),
                        "_object_string": str(value),
                        "_json": None,
                        "_header": {},
                    },
                }
        return {
            "type": type(self).__name__,
            "short_name": self.short_name(),
            "attributes": attributes,
        }

    def from_dict(self, object_dict: dict[str, Any]) -> Deps:
        """Set this dep from :meth:`to_dict`'s form and return it (Covalent's spelling:
        ``ct.DepsBash().from_dict(d)``)."""
        import base64

        from .. import _serialize

        if not object_dict:
            return self
        for key, value in object_dict.get("attributes", {}).items():
            if isinstance(value, dict) and value.get("type") == "TransportableObject":
                value = _serialize.loads(base64.b64decode(value["attributes"]["_object"]))
            setattr(self, key, value)
        return self

    def short_name(self) -> str:
        """Covalent's name for the kind of dep."""
        return type(self).__name__.lower()


class DepsBash(Deps):
    """Shell commands to run before the electron, in its working directory."""

    def __init__(self, commands: Sequence[str] | str = ()) -> None:
        self.commands = [commands] if isinstance(commands, str) else list(commands)
        super().__init__(None, [self.commands])

    def describe(self) -> str:
        return f"deps_bash {self.commands!r}"

    def __repr__(self) -> str:
        return f"DepsBash({self.commands!r})"


class DepsPip(Deps):
    """PyPI packages to install where the electron runs, before it runs.

    ``reqs_path`` is read here, when the dep is created, so the file need not exist on
    the machine that runs the electron.
    """

    def __init__(self, packages: Sequence[str] | str = (), reqs_path: str = "") -> None:
        self.packages = [packages] if isinstance(packages, str) else list(packages)
        self.reqs_path = str(reqs_path)
        self.requirements_content = Path(reqs_path).read_text() if reqs_path else ""
        super().__init__(None, [self.packages, self.requirements_content])

    def describe(self) -> str:
        what = repr(self.packages) if self.packages else ""
        if self.reqs_path:
            what = f"{what} + {self.reqs_path}" if what else self.reqs_path
        return f"deps_pip {what}"

    def __repr__(self) -> str:
        return f"DepsPip(packages={self.packages!r}, reqs_path={self.reqs_path!r})"


class DepsCall(Deps):
    """A function called in the electron's environment, before or after it.

    With ``retval_keyword``, its return value is passed to the electron as that keyword
    argument (give the electron's parameter a default). ``files`` is reserved.
    """

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        retval_keyword: str = "",
        override_reserved_retval_keys: bool = False,
    ) -> None:
        if retval_keyword == RESERVED_RETVAL_KEY_FILES and not override_reserved_retval_keys:
            raise ValueError(
                f"retval_keyword {retval_keyword!r} is reserved (Covalent passes "
                "transferred files under it); choose another name"
            )
        super().__init__(func, args or (), kwargs, retval_keyword=retval_keyword)

    @property
    def func(self) -> Callable[..., Any] | None:
        """The function called."""
        return self.apply_fn

    def describe(self) -> str:
        name = getattr(self.apply_fn, "__qualname__", None) or repr(self.apply_fn)
        return f"DepsCall {name}"

    def __repr__(self) -> str:
        return (
            f"DepsCall({self.describe()[len('DepsCall ') :]}, args={self.apply_args!r}, "
            f"kwargs={self.apply_kwargs!r}, retval_keyword={self.retval_keyword!r})"
        )


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "DepsModule",
            "short_name": self.short_name(),
            "attributes": {"module_name": self.module_name},
        }

    def short_name(self) -> str:
        return "depsmodule"

    def __repr__(self) -> str:
        return f"DepsModule({self.module_name!r})"
