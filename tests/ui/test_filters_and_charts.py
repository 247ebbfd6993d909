"""The dispatch list's executor and time-range filters, and SQL answers drawn as charts
with the whole view in the URL, in Debian's headless Chromium."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser


@ct.electron(executor="local")
def ui_filt_here(x):
    return x + 1


@ct.lattice
def ui_filt_local(x):
    return ui_filt_here(x)


@ct.electron
def ui_filt_there(x):
    return x * 2


@ct.lattice
def ui_filt_default(x):
    return ui_filt_there(x)


@pytest.fixture(scope="module")
def two_runs(
    service: object, dashboard_url: str, api_headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """A dispatch on the local executor, then one on the default executor."""
    out = {}
    for lattice in (ui_filt_local, ui_filt_default):
        dispatch_id = ct.dispatch(lattice)(1)
        assert ct.get_result(dispatch_id, wait=True, timeout=120).status == "COMPLETED"
        out[lattice.__name__] = httpx.get(
            f"{dashboard_url}/api/v1/dispatches/{dispatch_id}", timeout=30, headers=api_headers
        ).json()
    assert out["ui_filt_local"]["created_at"] < out["ui_filt_default"]["created_at"]
    return out


def _wait_shown(page: Any, want: set[str]) -> None:
    page.wait_for_function(
        "(want) => { const got = [...document.querySelectorAll("
        "'table.dispatches tbody tr[data-dispatch-id] td.name a')].map(a => a.textContent);"
        " return got.length === want.length && want.every(w => got.includes(w)); }",
        arg=sorted(want),
        timeout=30_000,
    )


def _local(page: Any, iso: str) -> str:
    """A stored UTC time as a datetime-local input's value in the browser's zone."""
    return str(
        page.evaluate(
            "(iso) => { const d = new Date(iso.endsWith('Z') ? iso : iso + 'Z');"
            " const p = (n, w = 2) => String(n).padStart(w, '0');"
            " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T"
            "${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`; }",
            iso,
        )
    )


def test_list_filters_by_executor_and_time_range(
    page: Any, dashboard_url: str, two_runs: dict, screenshot: Any
) -> None:
    both = {"ui_filt_local", "ui_filt_default"}
    page.goto(f"{dashboard_url}/#/?name=ui_filt_")
    _wait_shown(page, both)
    page.fill("#filter-executor", "local")
    _wait_shown(page, {"ui_filt_local"})
    assert "executor=local" in page.evaluate("location.hash")
    # the executors in use are offered
    page.wait_for_function(
        "() => [...document.querySelectorAll('#executor-names option')]"
        ".some(o => o.value === 'local')", timeout=30_000)
    page.fill("#filter-executor", "")
    _wait_shown(page, both)

    page.select_option("#filter-range", "1h")
    _wait_shown(page, both)
    page.select_option("#filter-range", "custom")
    later = two_runs["ui_filt_default"]["created_at"]
    page.fill("#filter-from", _local(page, later))
    _wait_shown(page, {"ui_filt_default"})
    screenshot("created-since")
    page.fill("#filter-from", "")
    page.fill("#filter-to", _local(page, later))
    _wait_shown(page, {"ui_filt_local"})
    # the filters are in the address: a reload (or a shared link) shows the same list
    page.reload()
    _wait_shown(page, {"ui_filt_local"})
    assert page.input_value("#filter-range") == "custom"
    assert page.input_value("#filter-to") != ""


QUERY = "SELECT range AS n, range * range AS square, 'r' || range AS label FROM range(6)"


def _marks(page: Any, selector: str) -> list[dict[str, Any]]:
    return list(
        page.eval_on_selector_all(
            f"#chart svg {selector}",
            "ms => ms.map(m => ({x: m.dataset.x, y: Number(m.dataset.y),"
            " cx: Number(m.getAttribute('cx') ?? m.getAttribute('x')),"
            " cy: Number(m.getAttribute('cy') ?? m.getAttribute('y'))}))",
        )
    )


def test_sql_answer_as_line_bar_and_scatter_chart_shared_by_url(
    page: Any, dashboard_url: str, screenshot: Any
) -> None:
    page.goto(f"{dashboard_url}/#/sql?q={quote(QUERY)}")
    page.wait_for_selector(".sql-table")
    page.select_option("#chart-kind", "line")
    page.wait_for_selector("#chart svg[data-kind=line]")
    # x defaults to the first column and y to the first other numeric one
    assert page.input_value("#chart-x") == "n" and page.input_value("#chart-y") == "square"
    dots = _marks(page, "circle")
    assert [d["y"] for d in dots] == [0, 1, 4, 9, 16, 25]
    # drawn left to right, higher values higher up (SVG's y grows downwards)
    assert all(a["cx"] < b["cx"] and a["cy"] > b["cy"] for a, b in zip(dots, dots[1:]))
    assert page.locator("#chart polyline.chart-line").count() == 1
    screenshot("line")

    page.select_option("#chart-kind", "bar")
    page.select_option("#chart-x", "label")
    page.wait_for_selector("#chart svg[data-kind=bar][data-x-type=category]")
    bars = _marks(page, "rect.chart-bar")
    assert [b["x"] for b in bars] == [f"r{i}" for i in range(6)]
    heights = page.eval_on_selector_all(
        "#chart rect.chart-bar", "rs => rs.map(r => Number(r.getAttribute('height')))"
    )
    assert heights == sorted(heights) and heights[-1] > 10 * heights[1]
    screenshot("bar")

    page.select_option("#chart-kind", "scatter")
    page.select_option("#chart-x", "square")
    page.select_option("#chart-y", "n")
    page.wait_for_selector("#chart svg[data-kind=scatter][data-x-type=number]")
    assert page.locator("#chart circle.chart-dot").count() == 6
    # the whole view is in the address: opening it again shows the same chart
    shared = page.evaluate("location.href")
    assert "chart=scatter" in shared and "x=square" in shared and "y=n" in shared
    page.goto("about:blank")
    page.goto(shared)
    page.wait_for_selector("#chart svg[data-kind=scatter]", timeout=30_000)
    assert page.input_value("#chart-x") == "square" and page.input_value("#chart-y") == "n"
    assert page.is_hidden(".sql-results")
    screenshot("scatter")
    # back to the table
    page.select_option("#chart-kind", "")
    assert page.is_visible(".sql-table") and page.is_hidden("#chart")
    assert "chart=" not in page.evaluate("location.hash")
