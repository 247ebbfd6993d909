"""The timeline (Gantt chart) of a dispatch, in Debian's headless Chromium."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser


@ct.electron
def ui_sleepy(seconds):
    import time

    time.sleep(seconds)
    return seconds


@ct.electron(retries=1, retry_delay=0.2)
def ui_flaky(path):
    import time
    from pathlib import Path

    time.sleep(0.4)  # bars wide enough to point at
    runs = int(Path(path).read_text()) if Path(path).exists() else 0
    Path(path).write_text(str(runs + 1))
    if runs < 1:
        raise ValueError("the first attempt fails")
    return runs + 1


@ct.lattice
def ui_timed(path):
    # the sum is a glue node (an operator), drawn only on request
    return [ui_sleepy(0.3) + ui_sleepy(0.9), ui_flaky(path)]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _bars(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("""() => {
        const svg = document.querySelector('#timeline svg');
        return {
            t0: Number(svg.dataset.t0), perS: Number(svg.dataset.pxPerS),
            left: Number(svg.dataset.left),
            bars: [...svg.querySelectorAll('rect.tl-bar')].map(r => ({
                node: Number(r.dataset.nodeId), attempt: Number(r.dataset.attempt),
                status: r.dataset.status, x: Number(r.getAttribute('x')),
                w: Number(r.getAttribute('width')) })),
        };
    }"""))


def _assert_bars_match(shown: dict[str, Any], timeline: dict[str, Any]) -> None:
    """Each attempt of each electron is one bar, placed and sized by its own times."""
    bars = {(b["node"], b["attempt"]): b for b in shown["bars"]}
    electrons = [n for n in timeline["nodes"] if n["kind"] == "electron"]
    assert len(bars) == sum(len(n["attempts"]) for n in electrons) == 4
    for n in electrons:
        for a in n["attempts"]:
            bar = bars[(n["id"], a["attempt"])]
            start, end = _epoch(a["start_time"]), _epoch(a["end_time"])
            assert bar["status"] == a["status"]
            assert bar["x"] == pytest.approx(shown["left"] + (start - shown["t0"]) * shown["perS"],
                                             abs=1.0)
            assert bar["w"] == pytest.approx(max(2.0, (end - start) * shown["perS"]), abs=1.0)


def test_timeline_bars_match_electron_times(page: Any, dashboard_url: str, tmp_path: Path,
                                            api_headers: dict[str, str],
                                            screenshot: Any) -> None:
    dispatch_id = ct.dispatch(ui_timed)(str(tmp_path / "runs"))
    ct.get_result(dispatch_id, wait=True, timeout=120)
    timeline = httpx.get(f"{dashboard_url}/api/v1/dispatches/{dispatch_id}/timeline",
                         headers=api_headers).json()

    page.goto(f"{dashboard_url}/#/dispatches/{dispatch_id}?view=timeline")
    page.wait_for_selector("#timeline[data-ready=true] rect.tl-bar")
    shown = _bars(page)
    _assert_bars_match(shown, timeline)
    flaky = next(n for n in timeline["nodes"] if n["name"] == "ui_flaky")
    first, second = sorted((b for b in shown["bars"] if b["node"] == flaky["id"]),
                           key=lambda b: b["attempt"])
    assert (first["status"], second["status"]) == ("FAILED", "COMPLETED")
    assert second["x"] >= first["x"] + first["w"] - 1  # the retry is a segment of its own
    screenshot("timeline")

    # zooming in scales the bars around the middle, and they still match their times
    page.locator(".graph-tools button", has_text="+").click()
    zoomed = _bars(page)
    assert zoomed["perS"] == pytest.approx(2 * shown["perS"], rel=1e-6)
    _assert_bars_match(zoomed, timeline)
    page.locator(".graph-tools button", has_text="Whole run").click()

    # hovering tells what the bar is; clicking it opens the electron
    bar = page.locator(f'#timeline rect.tl-bar[data-node-id="{flaky["id"]}"][data-attempt="1"]')
    bar.hover()
    tip = page.locator(".timeline-tip")
    tip.wait_for(state="visible")
    assert "ui_flaky" in tip.inner_text() and "attempt 1 of 2" in tip.inner_text()
    assert "the first attempt fails" in tip.inner_text()
    bar.click()
    page.wait_for_selector("#electron-output")
    assert page.locator("#electron-name").inner_text().startswith("ui_flaky")

    # the operator that adds the two outputs is a glue node: shown on request
    page.locator(".graph-tools label:visible", has_text="glue nodes").click()
    page.wait_for_function("() => document.querySelectorAll('#timeline rect.tl-bar').length > 4")
    assert "view=timeline" in page.url


@ct.electron
def ui_held(gate):
    import os
    import time

    deadline = time.monotonic() + 300  # the test opens the gate once it saw it running
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    return gate


@ct.lattice
def ui_slow_timeline(gate):
    return ui_held(gate)


def test_timeline_follows_a_running_dispatch_live(
    page: Any, dashboard_url: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    dispatch_id = ct.dispatch(ui_slow_timeline)(str(gate))
    page.goto(f"{dashboard_url}/#/dispatches/{dispatch_id}")
    page.locator(".mode-switch button", has_text="Timeline").click()
    page.wait_for_selector("#timeline[data-ready=true]")
    running = page.locator('#timeline rect.tl-bar[data-status="RUNNING"]')
    running.wait_for(timeout=60_000)  # appears through the live stream, no reload
    end = float(running.get_attribute("data-end"))
    # the running bar's end follows the clock, then it turns COMPLETED when the electron ends
    page.wait_for_function(
        "(end) => { const r = document.querySelector('#timeline rect.tl-bar');"
        " return r && Number(r.dataset.end) > end + 0.5; }",
        arg=end, timeout=60_000)
    gate.touch()  # now it ends
    page.wait_for_selector('#timeline rect.tl-bar[data-status="COMPLETED"]', timeout=60_000)
    assert page.locator("#timeline rect.tl-bar").count() == 1
