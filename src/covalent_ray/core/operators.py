"""The glue nodes' arithmetic: which operators a graph may record, and how every glue
node (collections, ``getitem``, ``getattr``, operators) computes its value at run time.

The SDK reads :data:`BINARY` to give electron outputs their operator methods while a
lattice is built; workers call :func:`glue_value` to evaluate the recorded node. Only the
names in :data:`OPERATORS` are ever looked up on the :mod:`operator` module.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from .graph import NodeKind

#: dunder method -> (operator name, symbol shown in the graph, reflected?)
BINARY: dict[str, tuple[str, str, bool]] = {
    "__add__": ("add", "+", False),
    "__radd__": ("add", "+", True),
    "__sub__": ("sub", "-", False),
    "__rsub__": ("sub", "-", True),
    "__mul__": ("mul", "*", False),
    "__rmul__": ("mul", "*", True),
    "__truediv__": ("truediv", "/", False),
    "__rtruediv__": ("truediv", "/", True),
    "__floordiv__": ("floordiv", "//", False),
    "__rfloordiv__": ("floordiv", "//", True),
    "__mod__": ("mod", "%", False),
    "__rmod__": ("mod", "%", True),
    "__pow__": ("pow", "**", False),
    "__rpow__": ("pow", "**", True),
    "__matmul__": ("matmul", "@", False),
    "__rmatmul__": ("matmul", "@", True),
}

#: unary operator names (``-out``, ``+out``, ``abs(out)``, ``~out``)
UNARY = frozenset({"neg", "pos", "abs", "invert"})

#: operator names a worker may apply; nothing else is looked up on the operator module
OPERATORS = frozenset(v[0] for v in BINARY.values()) | UNARY

_COLLECTIONS: dict[NodeKind, Callable[[Sequence[Any]], Any]] = {
    NodeKind.LIST: list,
    NodeKind.TUPLE: tuple,
    NodeKind.SET: set,
}


def apply_operator(op: str, *operands: Any) -> Any:
    """Apply a recorded operator at run time."""
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}")
    return getattr(operator, op)(*operands)


def glue_value(
    kind: NodeKind, op: str | None, args: Sequence[Any], value: Callable[[], Any] | None = None
) -> Any:
    """The output of a glue node of ``kind`` given its positional inputs ``args``.

    ``value()`` loads the node's stored value when it has one: the type of a namedtuple
    or list/tuple subclass to rebuild, or the keys of an ``electron_dict``.
    """
    if kind in _COLLECTIONS:
        if value is not None:  # a namedtuple or a list/tuple subclass: rebuild its own type
            cls = value()
            return cls(*args) if hasattr(cls, "_fields") else cls(args)
        return _COLLECTIONS[kind](args)
    if kind is NodeKind.DICT:
        keys = value() if value is not None else []
        return dict(zip(keys, args, strict=False))
    if kind is NodeKind.GETITEM:
        return args[0][args[1]]
    if kind is NodeKind.GETATTR:
        return getattr(args[0], op or "")
    if kind is NodeKind.OPERATOR:
        return apply_operator(op or "", *args)
    raise ValueError(f"{kind} is not a glue node kind")
