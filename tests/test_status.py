"""The dashboard's status values are generated from ``_status`` and kept current."""

from __future__ import annotations

from pathlib import Path

from covalent_ray._status import TERMINAL, Status, javascript

UI = Path(__file__).resolve().parents[1] / "ui"


def test_the_dashboard_statuses_are_generated_from_the_enum() -> None:
    assert (UI / "statuses.js").read_text() == javascript(), (
        "ui/statuses.js is stale: run `python -m covalent_ray._status > ui/statuses.js`"
    )
    text = javascript()
    assert all(f'"{s.value}"' in text for s in Status)
    terminal_line = next(line for line in text.splitlines() if "TERMINAL" in line)
    assert {s.value for s in Status if f'"{s.value}"' in terminal_line} == {
        s.value for s in TERMINAL
    }


def test_every_status_has_a_colour_in_the_dashboard() -> None:
    colours = (UI / "status.js").read_text()
    assert all(f"  {s.value}: " in colours for s in Status)
