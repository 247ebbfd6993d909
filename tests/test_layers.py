"""The package's layers point one way: no module imports from a layer above its own, and
no two packages (or modules) import each other, function-local imports included.

From the bottom up (``covalent_ray/__init__.py`` is the public facade over them all):

0. leaf modules and ``core/``: pure data and functions;
1. ``storage/``, ``executors/``, ``transfer/``, ``client/``;
2. ``sdk/`` (what a user's process runs), ``runtime/`` (the Ray actors and workers);
3. ``api/`` (the HTTP API);
4. ``cli/`` and ``service/``: the composition roots;
5. ``executor``, ``leptons``, ``triggers``: Covalent's public module paths
   (``from covalent.triggers import DirTrigger``), aliases of modules below, part of the
   facade.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "covalent_ray"

LAYERS: dict[str, int] = {
    "_status": 0,
    "_exceptions": 0,
    "_home": 0,
    "_serialize": 0,
    "_config": 0,
    "_version": 0,
    "_files": 0,
    "_logfile": 0,
    "core": 0,
    "storage": 1,
    "executors": 1,
    "transfer": 1,
    "client": 1,
    "sdk": 2,
    "runtime": 2,
    "api": 3,
    "cli": 4,
    "service": 4,
    "executor": 5,
    "leptons": 5,
    "triggers": 5,
}

#: the facade's alias modules (files, not packages)
ALIASES = {"executor", "leptons", "triggers"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in sorted(PACKAGE.rglob("*.py"))
        if "ui" not in p.relative_to(PACKAGE).parts
    }


def _imports(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every covalent_ray module ``name`` imports, anywhere in its body, with the line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "covalent_ray":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "covalent_ray":
                continue
            for alias in node.names:  # ``from . import x`` may name a submodule
                sub = f"{target}.{alias.name}"
                yield (sub if sub in known else target), node.lineno


def _unit(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the facade itself


def _graph() -> dict[str, dict[str, list[str]]]:
    """module -> imported module -> where ("path:line")."""
    modules = _modules()
    known = set(modules)
    edges: dict[str, dict[str, list[str]]] = {m: {} for m in modules}
    for name, path in modules.items():
        for target, line in _imports(name, path, known):
            while target not in known and "." in target:  # an attribute of a module
                target = target.rsplit(".", 1)[0]
            if target != name:
                edges[name].setdefault(target, []).append(
                    f"{path.relative_to(PACKAGE.parent)}:{line}"
                )
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_package_and_leaf_module_has_a_layer() -> None:
    units = {_unit(m) for m in _modules()} - {None}
    assert units <= set(LAYERS), f"give these a layer in LAYERS: {sorted(units - set(LAYERS))}"


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for module, targets in _graph().items():
        mine = _unit(module)
        for target, where in targets.items():
            theirs = _unit(target)
            if mine is None or mine == theirs:
                continue
            if theirs is None:
                upward.append(f"{where[0]}: {module} imports the facade covalent_ray")
            elif LAYERS[theirs] > LAYERS[mine]:
                upward.append(
                    f"{where[0]}: {module} (layer {LAYERS[mine]}) imports "
                    f"{target} (layer {LAYERS[theirs]})"
                )
    assert not upward, "imports that point upwards:\n" + "\n".join(upward)


#: packages of one layer that stay independent: the user's process never loads the code
#: that runs inside Ray, nor the other way round; the HTTP API reaches the actors only
#: through ``client``
APART = {("sdk", "runtime"), ("runtime", "sdk"), ("api", "runtime")}


def test_packages_kept_apart_do_not_import_each_other() -> None:
    crossing = [
        f"{where[0]}: {module} imports {target}"
        for module, targets in _graph().items()
        for target, where in targets.items()
        if (_unit(module), _unit(target)) in APART
    ]
    assert not crossing, "\n".join(crossing)


def test_no_two_packages_import_each_other() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        mine = _unit(module)
        if mine is None:
            continue
        for target in targets:
            theirs = _unit(target)
            if theirs is not None and theirs != mine:
                units.setdefault(mine, set()).add(theirs)
    assert not _cycles(units), f"packages that import each other: {_cycles(units)}"


def test_no_circular_imports_between_modules() -> None:
    edges = {m: set(t) for m, t in _graph().items()}
    cycles = _cycles(edges)
    assert not cycles, (
        "modules that import each other (directly or around a circle):\n"
        + "\n".join(" -> ".join(c) for c in cycles)
    )


@pytest.mark.parametrize(
    "unit", sorted(u for u in LAYERS if not u.startswith("_") and u not in ALIASES)
)
def test_every_package_says_what_it_holds_and_may_import(unit: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / unit / "__init__.py").read_text()))
    assert doc and "May import:" in doc, (
        f"{unit}/__init__.py: say what lives here and what it may import"
    )
