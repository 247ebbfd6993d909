"""Pickling of user functions and values, and their readable forms.

Functions and classes from modules that Ray workers cannot import (``__main__``, a
notebook, a test module, a script next to the user's code) are pickled *by value*; modules
that belong to an installed distribution or the standard library are pickled by reference.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import sys
import sysconfig
import threading
import types
from functools import lru_cache
from pathlib import Path
from typing import Any

import cloudpickle

from ._exceptions import SerializationError

REPR_LIMIT = 2000
JSON_LIMIT = 1_000_000

_registered: set[str] = set()
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _installed_top_levels() -> frozenset[str]:
    from importlib.metadata import packages_distributions

    return frozenset(packages_distributions())


@lru_cache(maxsize=1)
def _standard_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(str(Path(p).resolve()) for p in roots)


def _importable_by_workers(module_name: str) -> bool:
    top = module_name.split(".", 1)[0]
    if top in sys.builtin_module_names or top in _installed_top_levels():
        return True
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if file is None:
        return True  # namespace or built-in module: nothing of ours to ship
    resolved = str(Path(file).resolve())
    return any(resolved.startswith(root) for root in _standard_roots())


def _register_by_value(obj: Any) -> None:
    """Make cloudpickle ship the module defining ``obj`` by value when workers lack it."""
    module_name = getattr(obj, "__module__", None)
    if not module_name or module_name == "__main__" or module_name in _registered:
        return
    with _lock:
        if module_name in _registered or module_name not in sys.modules:
            return
        if not _importable_by_workers(module_name):
            cloudpickle.register_pickle_by_value(sys.modules[module_name])
        _registered.add(module_name)


def prepare(obj: Any) -> None:
    """Register by-value pickling for the modules ``obj`` (and its type) come from."""
    _register_by_value(obj)
    _register_by_value(type(obj))
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None:
        _register_by_value(wrapped)


#: values whose cloudpickle is plain pickle's, byte for byte (cloudpickle adds only cost)
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})


def dumps(obj: Any, what: str) -> bytes:
    """Cloudpickle ``obj``; ``what`` names it in the error ("argument 'x' of electron f")."""
    if type(obj) in _PLAIN:
        return pickle.dumps(obj, protocol=cloudpickle.DEFAULT_PROTOCOL)
    prepare(obj)
    try:
        return cloudpickle.dumps(obj)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(
            f"{what} cannot be pickled ({type(exc).__name__}: {exc}). Pass a value that "
            "cloudpickle can serialize (no open files, locks, sockets or generators), or "
            "create it inside the electron that uses it."
        ) from exc


_OWN_PACKAGE = __name__.split(".", 1)[0]


class _PortablePickler(cloudpickle.Pickler):
    """A cloudpickle pickler that ships covalent-ray's own functions and classes by value.

    What it writes unpickles where Python and cloudpickle are installed but covalent-ray
    is not (an SSH host, a Slurm node). Only this pickler does it: registering the
    package by value would change how Ray pickles our objects in the whole process.
    """

    def reducer_override(self, obj: Any) -> Any:
        module = getattr(obj, "__module__", None) or ""
        if isinstance(obj, (type, types.FunctionType)) and (
            module == _OWN_PACKAGE or module.startswith(_OWN_PACKAGE + ".")
        ):
            internals = cloudpickle.cloudpickle
            if isinstance(obj, type):
                return internals._dynamic_class_reduce(obj)
            return self._dynamic_function_reduce(obj)
        return super().reducer_override(obj)


def portable_dumps(obj: Any, what: str) -> bytes:
    """:func:`dumps` for a machine without covalent-ray: our own code travels by value.

    The remote side needs the same Python minor version and cloudpickle, nothing else.
    """
    import io

    prepare(obj)
    buffer = io.BytesIO()
    try:
        _PortablePickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(obj)
    except Exception as exc:
        raise SerializationError(
            f"{what} cannot be pickled ({type(exc).__name__}: {exc}). Pass a value that "
            "cloudpickle can serialize (no open files, locks, sockets or generators), or "
            "create it inside the electron that uses it."
        ) from exc
    return buffer.getvalue()


_LOADER_SOURCE = """
def load_portable(plain, portable):
    import cloudpickle
    if portable is not None:
        try:
            return cloudpickle.loads(plain)
        except ImportError:  # no covalent-ray here: our code came by value too
            return cloudpickle.loads(portable)
    return cloudpickle.loads(plain)
"""


@lru_cache(maxsize=1)
def _portable_loader() -> Any:
    # Defined outside any importable module, so cloudpickle ships it by value: unpickling
    # it needs only cloudpickle.
    namespace: dict[str, Any] = {"__name__": "covalent_ray_portable_loader"}
    exec(_LOADER_SOURCE, namespace)
    return namespace["load_portable"]


def portable_reduce(obj: Any, what: str) -> tuple[Any, ...]:
    """A ``__reduce__`` value for ``obj`` that unpickles with or without covalent-ray.

    Where covalent-ray imports, the ordinary pickle is used (our objects stay ours);
    elsewhere the :func:`portable_dumps` copy. When ``obj`` cannot be pickled portably (it
    holds something of ours that has no by-value form), only the ordinary pickle goes.
    """
    plain = dumps(obj, what)
    try:
        portable: bytes | None = portable_dumps(obj, what)
    except SerializationError:
        portable = None
    return (_portable_loader(), (plain, portable))


def loads(data: bytes) -> Any:
    """Inverse of :func:`dumps`."""
    return cloudpickle.loads(data)


def blob_key(data: bytes) -> str:
    """Content address of a blob."""
    return hashlib.sha256(data).hexdigest()[:40]


def readable(obj: Any) -> str:
    """A bounded ``repr`` for display; never raises."""
    try:
        text = repr(obj)
    except Exception as exc:  # a broken __repr__ must not fail the electron
        text = f"<{type(obj).__name__} (repr failed: {exc})>"
    if len(text) > REPR_LIMIT:
        text = text[: REPR_LIMIT - 15] + f"... [{len(text)} chars]"
    return text


def _is_plain(obj: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if obj is None or isinstance(obj, (bool, int, str)):
        return True
    if isinstance(obj, float):
        return math.isfinite(obj)
    if isinstance(obj, (list, tuple)):
        return all(_is_plain(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in obj.items())
    return False


def as_json(obj: Any) -> str | None:
    """JSON text of ``obj`` when it is made only of JSON types (tuples become lists)."""
    if hasattr(obj, "_fields") or not _is_plain(obj):  # namedtuples would lose their names
        return None
    text = json.dumps(obj)
    return text if len(text) <= JSON_LIMIT else None
