"""The README's runnable examples run as written against a running service, and print what
the README says they print (the ``# ...`` comment of the last ``print``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example(section: str) -> str:
    """The first python block after the heading ``section``."""
    text = README.read_text()
    start = text.index(f"\n{section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python example under {section!r}"
    return match.group(1)


@pytest.mark.usefixtures("service")
@pytest.mark.parametrize(
    "section", ["### File transfers", "### Leptons", "### Triggers", "#### Database triggers"]
)
def test_readme_example_runs(section: str, tmp_path: Path) -> None:
    code = example(section)
    expected = re.findall(r"^print\(.*\)\s+# (.+)$", code, re.M)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert expected and done.stdout.strip().splitlines()[-1] == expected[-1]
