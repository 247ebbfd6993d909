"""How failures travel through a running graph, and how a dispatch's outcome is decided.

An electron that raises does not raise through Ray: its task returns a :class:`Failed`
marker. A task whose inputs contain a marker does not run its function; it returns a
:class:`Skipped` marker carrying every failure upstream of it. Hence

- electrons downstream of a failure never run, independent branches run to the end;
- a task resolves only once *all* of its inputs resolved, so the dispatch's final step,
  which takes the graph's sinks as inputs, starts exactly when every electron has ended,
  and the markers it receives name every failed electron.

The lattice's return value is stored as a *template*: the user's structure with each
electron output replaced by :class:`NodeRef`; :func:`substitute` fills it in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NodeRef:
    """Placeholder for the output of node ``node_id`` inside the lattice's return value."""

    node_id: int


@dataclass(frozen=True)
class Failed:
    """Output of an electron that raised (or could not run)."""

    node_id: int
    name: str
    error: str  # one line: "ValueError: bad input"

    @property
    def failures(self) -> tuple[Failed, ...]:
        """The failures this marker stands for (itself)."""
        return (self,)


@dataclass(frozen=True)
class Skipped:
    """Output of a node that did not run because something upstream failed."""

    failed: tuple[Failed, ...]

    @property
    def failures(self) -> tuple[Failed, ...]:
        """The upstream failures that stopped this node."""
        return self.failed


Marker = Failed | Skipped


def collect_failures(values: Iterable[Any]) -> tuple[Failed, ...]:
    """Every distinct failure carried by the markers among ``values``, ordered by node."""
    seen: dict[int, Failed] = {}
    for v in values:
        if isinstance(v, (Failed, Skipped)):
            for f in v.failures:
                seen.setdefault(f.node_id, f)
    return tuple(seen[k] for k in sorted(seen))


def failure_message(failures: Iterable[Failed]) -> str:
    """The dispatch-level error: which electrons failed, and how (Covalent's wording)."""
    lines = [f"{f.node_id}: {f.name}: {f.error}" for f in failures]
    return "The following electrons failed:\n" + "\n".join(lines)


def template_refs(template: Any) -> list[int]:
    """Node ids referenced by a result template, each once, in order of appearance."""
    found: dict[int, None] = {}

    def walk(obj: Any) -> None:
        if isinstance(obj, NodeRef):
            found.setdefault(obj.node_id)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for v in obj:
                walk(v)
        elif isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(k)
                walk(v)

    walk(template)
    return list(found)


def substitute(template: Any, values: Mapping[int, Any]) -> Any:
    """The template with every :class:`NodeRef` replaced by its node's value."""
    if isinstance(template, NodeRef):
        return values[template.node_id]
    if isinstance(template, list):
        return [substitute(v, values) for v in template]
    if isinstance(template, tuple):
        items = [substitute(v, values) for v in template]
        if hasattr(template, "_fields"):  # namedtuple
            return type(template)(*items)
        return tuple(items)
    if isinstance(template, (set, frozenset)):
        return type(template)(substitute(v, values) for v in template)
    if isinstance(template, dict):
        return type(template)(
            (substitute(k, values), substitute(v, values)) for k, v in template.items()
        )
    return template
