"""Building the transport graph by running the lattice body with stand-in outputs.

While a lattice is being built, calling an electron adds a node and returns an
:class:`ElectronOutput`, a stand-in for a value that will exist only at run time.
Operations on stand-ins that a static graph can express (``out[k]``, ``out.attr``,
``out + 1``, ``a, b = out``) add nodes too.

Conversions that need the real value give Covalent's placeholders, so a lattice body
written for Covalent builds the same graph here: ``int(out)`` is ``0``, ``float(out)``
``0.0``, ``complex(out)`` ``0j``, ``bool(out)`` ``True``, iterating (``for x in out``,
``list(out)``, ``dict(out)``) yields nothing. Each warns once per build
(:class:`PlaceholderWarning`), since the value used is not the electron's output.
``len(out)`` raises, as in Covalent (where it is a ``TypeError``).

Containers are handed over as Covalent hands them: a list, tuple or set (a namedtuple
too) passed to an electron inside a lattice, or returned by the lattice, arrives as a
list, and a dict as a plain dict, at every depth of such containers (Covalent builds them
with its list and dict nodes). An electron's own output is never converted: a tuple it
returns stays a tuple wherever it goes. Operands of ``out[k]``, ``out.attr`` and
operators are left as they are.
"""

from __future__ import annotations

import dis
import inspect
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .. import _serialize
from .._exceptions import CovalentRayError, LatticeBuildError, SerializationError
from ..core.graph import EdgeKind, ExecutorSpec, NodeKind, TransportGraph
from ..core.operators import BINARY
from ..core.outcome import NodeRef

#: blobs up to this size are normalized by a round trip (see GraphBuilder.blob)
NORMALIZE_LIMIT = 1_000_000
#: types whose pickle is the same after a round trip: no normalizing needed (a fan-out
#: over ``range(n)`` pickles n such parameters)
_STABLE = frozenset({int, float, complex, str, bytes, bool, type(None)})

_builder: ContextVar[GraphBuilder | None] = ContextVar("covalent_ray_builder", default=None)


class _UnknownLength(LatticeBuildError, TypeError):
    """``len()`` of an output: a TypeError too, so ``list(out)`` (which asks for a length
    hint first) still iterates, as in Covalent."""


class PlaceholderWarning(UserWarning):
    """An electron output was converted while its lattice was built: the lattice body
    saw a placeholder (Covalent's), not the value the electron will return."""


def active_builder() -> GraphBuilder | None:
    """The builder of the lattice being built in this context, if any."""
    return _builder.get()


@dataclass
class GraphBuilder:
    """Accumulates nodes, edges and blobs while a lattice body runs."""

    lattice_name: str
    default_executor: Any = None  # the lattice's ``executor=``, for electrons without one
    lattice_hooks: dict[str, Any] = field(default_factory=dict)  # deps inherited by electrons
    replacements: dict[str, Any] = field(default_factory=dict)  # redispatch: name -> electron
    executors: dict[Any, tuple[Any, Any]] = field(default_factory=dict)  # resolved, per build
    warned: set[str] = field(default_factory=set)  # placeholder conversions warned about
    _keys: dict[int, tuple[Any, str]] = field(default_factory=dict)  # id(obj) -> (obj, key)
    _shaped: dict[int, tuple[Any, Any]] = field(default_factory=dict)  # id(obj) -> (obj, list)
    # id(function) -> (function, its parameters): one signature per function per build
    _params: dict[int, tuple[Any, list[inspect.Parameter] | None]] = field(default_factory=dict)
    _sources: dict[int, tuple[Any, str | None]] = field(default_factory=dict)  # id -> source
    graph: TransportGraph = field(default_factory=TransportGraph)
    blobs: dict[str, bytes] = field(default_factory=dict)
    # build errors raised in the body: one the body catches still fails the build
    refused: list[LatticeBuildError] = field(default_factory=list)

    def refuse(self, message: str) -> LatticeBuildError:
        """A build error to raise, remembered in case the lattice body swallows it."""
        error = LatticeBuildError(message)
        self.refused.append(error)
        return error

    def blob(self, obj: Any, what: str) -> str:
        """Pickle ``obj`` into the blob table and return its key.

        The same object (a function called by many electrons) is pickled once per build.
        Bytes are *normalized* by one unpickle/pickle round trip: pickling an object
        rebuilt from storage can differ from pickling the original (cloudpickle's memo
        sees different string identities, e.g. in type annotations), and a redispatch
        compares blob keys to decide what it may reuse.
        """
        cached = self._keys.get(id(obj))
        if cached is not None and cached[0] is obj:
            return cached[1]
        data = _serialize.dumps(obj, what)
        if len(data) <= NORMALIZE_LIMIT and type(obj) not in _STABLE:
            data = _serialize.dumps(_serialize.loads(data), what)
        key = _serialize.blob_key(data)
        self.blobs.setdefault(key, data)
        if not isinstance(obj, (int, float, str, bytes, bool, type(None))):
            self._keys[id(obj)] = (obj, key)  # the reference keeps id(obj) unique
        return key

    def _source(self, function: Any) -> str | None:
        """The source of an electron's function (one read per function per build)."""
        cached = self._sources.get(id(function))
        if cached is None or cached[0] is not function:
            cached = (function, function_source(function))  # the reference keeps the id
            self._sources[id(function)] = cached
        return cached[1]

    def _positional_names(self, function: Callable[..., Any], count: int) -> list[str | None]:
        cached = self._params.get(id(function))
        if cached is None or cached[0] is not function:
            cached = (function, _parameters(function))  # the reference keeps the id unique
            self._params[id(function)] = cached
        return _positional_names(cached[1], count)

    # -- values -------------------------------------------------------------------------

    def node_for(self, value: Any, what: str, *, as_covalent: bool = False) -> int:
        """The node whose output is ``value``: its own node for a stand-in, a collection
        node for a container holding stand-ins, a parameter node otherwise. With
        ``as_covalent`` (an electron's argument), containers take Covalent's shapes
        (see the module docstring)."""
        if isinstance(value, ElectronOutput):
            self._check_mine(value)
            return value._node_id
        if _contains_output(value):
            return self._collection(value, what, as_covalent)
        if as_covalent:
            value = self._covalent_shape(value)
        key = self.blob(value, what)
        node = self.graph.add_node(
            f":parameter:{_label(value)}",
            NodeKind.PARAMETER,
            value=key,
            value_repr=_serialize.readable(value),
            value_json=_serialize.as_json(value),
        )
        return node.id

    def _covalent_shape(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple, set, frozenset, dict)):
            return value
        cached = self._shaped.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        shaped = covalent_shape(value)
        self._shaped[id(value)] = (value, shaped)  # the reference keeps id(value) unique
        return shaped

    def _collection(self, value: Any, what: str, as_covalent: bool = False) -> int:
        if isinstance(value, dict):
            keys = list(value)
            node = self.graph.add_node(
                ":electron_dict:",
                NodeKind.DICT,
                value=self.blob(keys, f"the keys of a dict in {what}"),
            )
            items = list(value.values())
        else:
            kinds: dict[type, NodeKind] = {
                list: NodeKind.LIST,
                tuple: NodeKind.TUPLE,
                set: NodeKind.SET,
                frozenset: NodeKind.SET,
            }
            kind = kinds.get(type(value))
            if as_covalent:  # Covalent's list node, whatever the container was
                kind = NodeKind.LIST
            elif kind is None:  # namedtuple or a list/tuple subclass: rebuild with its type
                kind = NodeKind.TUPLE if isinstance(value, tuple) else NodeKind.LIST
            node = self.graph.add_node(f":{kind.value}:", kind)
            if not as_covalent and type(value) not in (list, tuple, set, frozenset):
                node.value = self.blob(type(value), f"the type of {what}")
            items = list(value)
        for i, item in enumerate(items):
            parent = self.node_for(item, f"item {i} of {what}", as_covalent=as_covalent)
            self.graph.add_edge(parent, node.id, EdgeKind.ARG, index=i)
        return node.id

    def _check_mine(self, out: ElectronOutput) -> None:
        if out._builder is not self:
            raise self.refuse(
                f"{out!r} belongs to another lattice build; electron outputs can only be "
                f"used inside the lattice that produced them (building {self.lattice_name})."
            )

    # -- nodes --------------------------------------------------------------------------

    def add_call(
        self,
        name: str,
        kind: NodeKind,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        executor: ExecutorSpec | None,
        metadata: dict[str, Any],
    ) -> ElectronOutput:
        """Add a node calling ``function(*args, **kwargs)`` and return its stand-in."""
        fn_key = self.blob(function, f"the function of electron {name!r}")
        node = self.graph.add_node(
            name,
            kind,
            function=fn_key,
            executor=executor,
            metadata=metadata,
            source=self._source(function),
        )
        names = self._positional_names(function, len(args))
        for i, arg in enumerate(args):
            what = f"argument {names[i] or i} of electron {name!r}"
            parent = self.node_for(arg, what, as_covalent=True)
            self.graph.add_edge(parent, node.id, EdgeKind.ARG, index=i, name=names[i])
        for key, arg in kwargs.items():
            what = f"argument {key!r} of electron {name!r}"
            parent = self.node_for(arg, what, as_covalent=True)
            self.graph.add_edge(parent, node.id, EdgeKind.KWARG, name=key)
        return ElectronOutput(self, node.id, name)

    def derive(
        self, name: str, kind: NodeKind, operands: tuple[Any, ...], op: str | None = None
    ) -> ElectronOutput:
        """Add a node computed from other outputs (getitem, getattr, operators)."""
        node = self.graph.add_node(name, kind, op=op)
        for i, operand in enumerate(operands):
            parent = self.node_for(operand, f"operand {i} of {name}")
            self.graph.add_edge(parent, node.id, EdgeKind.ARG, index=i)
        return ElectronOutput(self, node.id, name)

    def add_wait(self, child: ElectronOutput, parents: list[Any]) -> None:
        """Make ``child`` start only after every electron in ``parents`` has finished."""
        self._check_mine(child)
        for p in parents:
            if not isinstance(p, ElectronOutput):
                raise self.refuse(
                    f"ct.wait expects electron outputs to wait for; got {type(p).__name__} "
                    f"in the lattice {self.lattice_name!r}."
                )
            self._check_mine(p)
        added = len(parents)
        for p in parents:
            self.graph.add_edge(p._node_id, child._node_id, EdgeKind.WAIT)
        try:
            self.graph.topological_order()
        except ValueError:
            del self.graph.edges[-added:]  # the graph stays as it was, should the body go on
            raise self.refuse(
                f"ct.wait({child!r}, ...) in lattice {self.lattice_name!r} makes the graph "
                "cyclic: an electron would wait for its own dependant."
            ) from None

    def template(self, value: Any) -> Any:
        """The lattice's return value with stand-ins replaced by NodeRefs, its containers
        in Covalent's shapes (lists and plain dicts)."""
        if isinstance(value, ElectronOutput):
            self._check_mine(value)
            return NodeRef(value._node_id)
        if isinstance(value, dict):
            return {
                self.template(k) if isinstance(k, ElectronOutput) else k: self.template(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.template(v) for v in value]
        return value


def covalent_shape(value: Any, depth: int = 0) -> Any:
    """``value`` as Covalent hands a plain container to an electron: lists, tuples and sets
    (their subclasses too) as lists, dicts as plain dicts (keys kept), at every depth of
    such containers; anything else, and a container with nothing to change, is returned
    as it is."""
    if depth > 100:
        return value
    if isinstance(value, dict):
        items = {k: covalent_shape(v, depth + 1) for k, v in value.items()}
        same = type(value) is dict and all(items[k] is v for k, v in value.items())
        return value if same else items
    if isinstance(value, (list, tuple, set, frozenset)):
        shaped = [covalent_shape(v, depth + 1) for v in value]
        same = type(value) is list and all(a is b for a, b in zip(shaped, value))
        return value if same else shaped
    return value


def _contains_output(value: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if isinstance(value, ElectronOutput):
        return True
    if isinstance(value, dict):
        return any(
            _contains_output(k, depth + 1) or _contains_output(v, depth + 1)
            for k, v in value.items()
        )
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_contains_output(v, depth + 1) for v in value)
    return False


def _short(value: Any) -> str:
    text = _serialize.readable(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _label(value: Any) -> str:
    """A parameter node's name is Covalent's ``:parameter:<str(value)>`` (bounded)."""
    try:
        text = str(value)
    except Exception:
        text = _short(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: longest source kept per electron (the dashboard shows it; a generated function can be huge)
SOURCE_LIMIT = 100_000


def function_source(function: Any) -> str | None:
    """The dedented source of ``function`` (a lattice's workflow function for a
    sublattice, the wrapped one for a decorated function); None when Python cannot find
    it (built in, made by ``exec``, typed at a prompt)."""
    target = getattr(function, "workflow_function", None) or function
    target = inspect.unwrap(target) if callable(target) else target
    try:
        text = textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError):
        return None
    return text if len(text) <= SOURCE_LIMIT else text[:SOURCE_LIMIT] + "\n# ... (cut)\n"


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None


def _positional_names(params: list[inspect.Parameter] | None, count: int) -> list[str | None]:
    """The parameter each of ``count`` positional arguments binds to (None if unknown)."""
    if params is None:
        return [None] * count
    names: list[str | None] = []
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            names.extend([p.name] * (count - len(names)))
            break
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    names.extend([None] * (count - len(names)))
    return names[:count]


class ElectronOutput:
    """Stand-in for an electron's output while its lattice is being built."""

    __slots__ = ("_builder", "_node_id", "_name")
    _builder: GraphBuilder
    _node_id: int
    _name: str

    def __init__(self, builder: GraphBuilder, node_id: int, name: str) -> None:
        object.__setattr__(self, "_builder", builder)
        object.__setattr__(self, "_node_id", node_id)
        object.__setattr__(self, "_name", name)

    def __repr__(self) -> str:
        return f"<output of {self._name} (node {self._node_id})>"

    def wait_for(self, parents: Any) -> ElectronOutput:
        """Start this electron only after ``parents`` (an output or a list) finished."""
        items = parents if isinstance(parents, (list, tuple)) else [parents]
        self._builder.add_wait(self, list(items))
        return self

    def __getitem__(self, key: Any) -> ElectronOutput:
        label = key._name if isinstance(key, ElectronOutput) else _short(key)
        return self._builder.derive(f"{self._name}[{label}]", NodeKind.GETITEM, (self, key))

    def __getattr__(self, attr: str) -> ElectronOutput:
        if attr.startswith("__") or attr in ("_builder", "_node_id", "_name"):
            raise AttributeError(attr)
        if attr == "keys":  # as in Covalent: `keys` would make dict(out) call it
            raise AttributeError(
                f"`keys` cannot be read from {self!r} while building a lattice (it conflicts "
                "with dict.keys); rename the attribute or read it inside an electron."
            )
        return self._builder.derive(f"{self._name}.{attr}", NodeKind.GETATTR, (self,), op=attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise LatticeBuildError(
            f"cannot set attribute {attr!r} on {self!r} while building a lattice; "
            "change the value inside an electron instead."
        )

    def __iter__(self) -> Iterator[ElectronOutput]:
        count = _unpack_count(sys._getframe(1))
        if count is None:  # Covalent iterates over nothing unless unpacking
            self._placeholder("iterating over", "no items")
            return iter(())
        return iter([self[i] for i in range(count)])

    def _placeholder(self, what: str, value: str) -> None:
        builder = self._builder
        if what in builder.warned:
            return
        builder.warned.add(what)
        warnings.warn(
            f"{what} {self!r} while building lattice {builder.lattice_name!r} gives {value} "
            "(Covalent's placeholder), not the electron's output, which exists only at run "
            "time. Use the value inside an electron.",
            PlaceholderWarning,
            stacklevel=3,
        )

    def __bool__(self) -> bool:
        self._placeholder("the truth value of", "True")
        return True

    def __int__(self) -> int:
        self._placeholder("int() of", "0")
        return 0

    def __float__(self) -> float:
        self._placeholder("float() of", "0.0")
        return 0.0

    def __complex__(self) -> complex:
        self._placeholder("complex() of", "0j")
        return 0j

    def __len__(self) -> int:
        raise _UnknownLength(
            f"len() of {self!r} is unknown while building lattice "
            f"{self._builder.lattice_name!r} (Covalent raises TypeError here too); compute it "
            "inside an electron."
        )

    def __reduce__(self) -> Any:
        raise SerializationError(
            f"{self!r} is nested inside an object covalent-ray cannot look into. Pass "
            "electron outputs directly, or inside a list, tuple, set or dict."
        )

    def __neg__(self) -> ElectronOutput:
        return self._builder.derive(f"-{self._name}", NodeKind.OPERATOR, (self,), op="neg")

    def __pos__(self) -> ElectronOutput:
        return self._builder.derive(f"+{self._name}", NodeKind.OPERATOR, (self,), op="pos")

    def __abs__(self) -> ElectronOutput:
        return self._builder.derive(f"abs({self._name})", NodeKind.OPERATOR, (self,), op="abs")

    def __invert__(self) -> ElectronOutput:
        return self._builder.derive(f"~{self._name}", NodeKind.OPERATOR, (self,), op="invert")


def _binary(dunder: str, op: str, symbol: str, reflected: bool) -> Callable[..., Any]:
    def method(self: ElectronOutput, other: Any) -> ElectronOutput:
        operands = (other, self) if reflected else (self, other)
        name = f":{symbol}:"
        return self._builder.derive(name, NodeKind.OPERATOR, operands, op=op)

    method.__name__ = dunder
    return method


for _dunder, (_op, _symbol, _reflected) in BINARY.items():
    setattr(ElectronOutput, _dunder, _binary(_dunder, _op, _symbol, _reflected))


def _unpack_count(frame: Any) -> int | None:
    """How many names the bytecode at ``frame``'s current instruction unpacks into."""
    code, offset = frame.f_code, frame.f_lasti
    for ins in dis.get_instructions(code):
        if ins.offset < offset:
            continue
        if ins.opname == "UNPACK_SEQUENCE":
            return int(ins.arg or 0)
        if ins.opname == "CACHE":
            continue
        return None
    return None


def build(
    name: str,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    default_executor: Any = None,
    lattice_hooks: dict[str, Any] | None = None,
    replacements: dict[str, Any] | None = None,
) -> tuple[GraphBuilder, Any]:
    """Run a lattice body under a builder; return the builder and the result template.

    ``replacements`` maps electron names to electrons that stand in for them (redispatch).
    """
    builder = GraphBuilder(
        name, default_executor, dict(lattice_hooks or {}), dict(replacements or {})
    )
    token = _builder.set(builder)
    try:
        try:
            returned = function(*args, **kwargs)
        except CovalentRayError:  # already says what went wrong and where
            raise
        except Exception as exc:
            raise LatticeBuildError(
                f"building lattice {name!r} failed: the lattice body raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if builder.refused:  # the body caught our error and went on: the build still fails
            first = builder.refused[0]
            raise LatticeBuildError(
                f"{first} (The lattice body caught this error and went on; the lattice "
                "cannot be dispatched until the body stops causing it.)"
            ) from first
        template = builder.template(returned)
    finally:
        _builder.reset(token)
    return builder, template
