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
