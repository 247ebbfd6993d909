from __future__ import annotations

import subprocess
import sys

import covalent_ray


def test_exports_match_all() -> None:
    public = {n for n in dir(covalent_ray) if not n.startswith("_")} | {"__version__"}
    assert public == set(covalent_ray.__all__)
    for name in covalent_ray.__all__:
        assert getattr(covalent_ray, name) is not None


def test_import_is_light() -> None:
    # what is imported, not how long it takes (a timing belongs in benchmarks/): building
    # a lattice loads neither Ray, nor DuckDB, nor the HTTP stack
    code = (
        "import sys; import covalent_ray as ct\n"
        "@ct.electron\ndef f(x): return x\n"
        "@ct.lattice\ndef g(x): return f(x)\n"
        "g.manifest((1,), {}); ct.dispatch; ct.get_result\n"
        "print('ray' in sys.modules, 'duckdb' in sys.modules, "
        "'fastapi' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False", "False"]


def test_status_compares_to_strings() -> None:
    assert covalent_ray.status.COMPLETED == "COMPLETED"
    assert str(covalent_ray.status.FAILED) == "FAILED"


def test_covalents_public_module_paths_import_the_same_objects() -> None:
    # Covalent scripts write `from covalent.triggers import DirTrigger`; with the import
    # changed, these paths must exist and name the very classes `ct.` gives
    from covalent_ray.executor.base import AsyncBaseExecutor, BaseExecutor

    from covalent_ray.executor import LocalExecutor
    from covalent_ray.leptons import bash
    from covalent_ray.triggers import DatabaseTrigger, DirTrigger, SQLiteTrigger, TimeTrigger

    assert LocalExecutor is covalent_ray.executor.LocalExecutor
    assert BaseExecutor is covalent_ray.executor.BaseExecutor
    assert AsyncBaseExecutor is covalent_ray.executor.AsyncBaseExecutor
    assert bash is covalent_ray.leptons.bash
    assert (DirTrigger, TimeTrigger) == (
        covalent_ray.triggers.DirTrigger,
        covalent_ray.triggers.TimeTrigger,
    )
    assert SQLiteTrigger is covalent_ray.triggers.SQLiteTrigger
    assert DatabaseTrigger is covalent_ray.triggers.DatabaseTrigger
