"""Measure the promise "change the import line, nothing else": run Covalent's own
functional tests and how-to notebooks against a running covalent-ray service.

    git clone --branch v0.240.0 https://github.com/AgnostiqHQ/covalent /tmp/covalent
    covalent-ray start
    python benchmarks/covalent_compat.py /tmp/covalent [--work /tmp/compat] [--only NAME]

It copies ``tests/functional_tests`` and ``doc/source/how_to`` of that checkout into a
scratch directory (Covalent's code is never copied into this repository), rewrites their
import lines only (:data:`IMPORTS`), then runs the tests with pytest and each notebook's
code cells as one script, and prints how many pass, per file.

Import lines that name Covalent's private modules are pointed at a small module written
next to the tests (:data:`PRIVATE`), which maps the few private helpers the tests use to
covalent-ray's public API (``rm.get_result`` -> ``ct.get_result``; ``rm._delete_result``,
which removes the client's local copy of a result in Covalent, does nothing). Everything
else runs as Covalent wrote it. Notebook shell lines (``!gcc ...``) run in a shell, as
Jupyter does.

Run it against a service whose Python environment you can spare: Covalent's pip guide
(``add_pip_dependencies_to_electron``) installs ``numpy==1.22.4`` and ``networkx==2.8.6``
into the interpreter that runs its electrons, so it is skipped unless ``--allow-pip``.

Not a timed benchmark: it prints counts, not figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

#: (pattern of a whole import line, replacement): public module paths keep their names
IMPORTS: list[tuple[str, str]] = [
    # private modules first: they go to the harness's module of public equivalents
    (r"^(\s*)import covalent\._\S+ as (\w+)\s*$", r"\1import _covalent_private as \2"),
    (r"^(\s*)from covalent\._\S+ import (.+)$", r"\1from _covalent_private import \2"),
    (r"^(\s*)from covalent_dispatcher\S* import (.+)$", r"\1from _covalent_private import \2"),
    (r"^(\s*)import covalent as (\w+)\s*$", r"\1import covalent_ray as \2"),
    (r"^(\s*)import covalent\s*$", r"\1import covalent_ray as covalent"),
    (r"^(\s*)from covalent import (.+)$", r"\1from covalent_ray import \2"),
    (r"^(\s*)from covalent\.(\w[\w.]*) import (.+)$", r"\1from covalent_ray.\2 import \3"),
]

#: the module standing for Covalent's private ones: their names the tests use, mapped
#: to covalent-ray's public API; any other name fails the test as "private API"
PRIVATE = '''
"""Covalent private names used by its functional tests, mapped to covalent-ray."""
import covalent_ray as _ct
from covalent_ray import *  # noqa: F401,F403
from covalent_ray import Result, get_result, cancel  # noqa: F401
from covalent_ray._exceptions import MissingLatticeRecordError  # noqa: F401
from covalent_ray.sdk.fs import Order  # noqa: F401
from covalent_ray.sdk.lattice import Lattice  # noqa: F401
import sys as _sys

# ``from covalent._results_manager import results_manager``
results_manager = _sys.modules[__name__]


def _delete_result(dispatch_id, *args, **kwargs):
    """Covalent's removes the client's local copy of a result (the server keeps it);
    covalent-ray keeps no local copy: nothing to do."""


def __getattr__(name):
    raise AttributeError(
        f"Covalent private name {name!r} has no covalent-ray equivalent (private API)"
    )
'''


def rewrite(text: str) -> str:
    """``text`` with each Covalent import line rewritten (nothing else changes)."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        for pattern, repl in IMPORTS:
            new = re.sub(pattern, repl, body)
            if new != body:
                line = new + line[len(body) :]
                break
        out.append(line)
    return "".join(out)


def notebook_script(path: Path) -> str:
    """A notebook's code cells as one script; ``!cmd`` lines run in a shell."""
    cells = json.loads(path.read_text())["cells"]
    lines = ["import subprocess as _sp\n"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            if stripped.startswith("!"):
                line = f"{indent}_sp.run({stripped[1:]!r}, shell=True, check=True)"
            elif stripped.startswith("%"):
                line = f"{indent}pass  # {stripped}"
            lines.append(line + "\n")
        lines.append("\n")
    return rewrite("".join(lines))


def run_tests(src: Path, work: Path, only: str | None, timeout: int) -> dict[str, dict[str, int]]:
    tests = work / "functional_tests"
    shutil.copytree(src / "tests" / "functional_tests", tests)
    for py in tests.rglob("*.py"):
        py.write_text(rewrite(py.read_text()))
    (tests / "_covalent_private.py").write_text(PRIVATE)
    (tests / "conftest.py").write_text("")
    report = work / "functional.xml"
    target = [str(p) for p in sorted(tests.glob("*test*.py")) if not only or only in p.name]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tests),
            f"--timeout={timeout}",
            f"--junitxml={report}",
            "-o",
            "addopts=",
            "--continue-on-collection-errors",
            *target,
        ],
        cwd=tests,
        env={
            **os.environ,
            "PYTHONPATH": str(tests) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        },
    )
    counts: dict[str, dict[str, int]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1]
        if not name:  # the file did not import: each of its tests counts as failed
            name = Path(case.get("name", "")).stem
            tests_in_file = len(
                re.findall(r"^\s*(?:async )?def test_", (tests / f"{name}.py").read_text(), re.M)
            )
            counts[name] = {"passed": 0, "failed": tests_in_file, "skipped": 0, "uncollected": 1}
            continue
        kind = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                kind = {"failure": "failed", "error": "failed"}.get(tag, tag)
        counts.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0})[kind] += 1
    return counts


#: guides that change the Python environment of the service (skipped unless --allow-pip)
CHANGES_THE_ENVIRONMENT = ("add_pip_dependencies_to_electron",)


def run_notebooks(
    src: Path, work: Path, only: str | None, timeout: int, allow_pip: bool = False
) -> dict[str, str]:
    how_to = work / "how_to"
    shutil.copytree(src / "doc" / "source" / "how_to", how_to)
    for py in how_to.rglob("*.py"):  # the guides' own modules (a custom executor plugin)
        py.write_text(rewrite(py.read_text()))
    outcome: dict[str, str] = {}
    for nb in sorted(how_to.rglob("*.ipynb")):
        if only and only not in nb.name:
            continue
        if nb.stem in CHANGES_THE_ENVIRONMENT and not allow_pip:
            outcome[str(nb.relative_to(how_to))] = "skipped (installs packages: --allow-pip)"
            continue
        script = nb.with_suffix(".py")
        script.write_text(notebook_script(nb))
        try:
            done = subprocess.run(
                [sys.executable, script.name],
                cwd=nb.parent,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            tail = (done.stderr.strip().splitlines() or [""])[-1]
            outcome[str(nb.relative_to(how_to))] = "passed" if done.returncode == 0 else tail
        except subprocess.TimeoutExpired:
            outcome[str(nb.relative_to(how_to))] = f"timed out after {timeout} s"
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("covalent", type=Path, help="a checkout of Covalent (v0.240.0)")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a new one)")
    parser.add_argument("--only", help="run only the files whose name contains this")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per test or notebook")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument(
        "--allow-pip", action="store_true", help="run the guide that pip-installs old packages"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="covalent-compat-"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.skip_tests:
        counts = run_tests(args.covalent, work, args.only, args.timeout)
        print("\nfunctional tests (passed/failed/skipped):")
        for name, c in sorted(counts.items()):
            note = "  (did not import)" if c.get("uncollected") else ""
            print(f"  {name:40} {c['passed']:3} {c['failed']:3} {c['skipped']:3}{note}")
        total = {k: sum(c[k] for c in counts.values()) for k in ("passed", "failed", "skipped")}
        print(f"  {'total':40} {total['passed']:3} {total['failed']:3} {total['skipped']:3}")
    if not args.skip_notebooks:
        outcome = run_notebooks(args.covalent, work, args.only, args.timeout, args.allow_pip)
        print("\nhow-to notebooks:")
        for name, result in outcome.items():
            print(f"  {name:60} {result[:160]}")
        passed = sum(r == "passed" for r in outcome.values())
        skipped = sum(r.startswith("skipped") for r in outcome.values())
        print(f"  passed {passed} of {len(outcome) - skipped} ({skipped} skipped)")
    print(f"\nscratch directory: {work}")


if __name__ == "__main__":
    main()
