"""`lattice.draw()`'s preview page (#/preview/<id>) in Debian's headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser


@ct.electron
def preview_square(x):
    return x * x


@ct.electron
def preview_total(values):
    return sum(values)


@ct.lattice
def previewed_sweep(n, scale=3):
    return preview_total([preview_square(i * scale) for i in range(n)])


def test_lattice_draw_opens_its_graph_before_any_dispatch(
    page: Any, dashboard_url: str, screenshot: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = previewed_sweep.draw(4, scale=7)
    assert url.startswith(dashboard_url) and "/#/preview/" in url
    assert url in capsys.readouterr().out  # printed for the user to open, as Covalent does
    page.goto(url)
    page.wait_for_selector("#graph[data-ready=true]", timeout=60_000)
    assert "previewed_sweep" in page.locator("h1").inner_text()
    names = page.evaluate("window.covalentRay.cy.nodes().map((n) => n.data('label'))")
    assert names.count("preview_square") == 4 and "preview_total" in names
    assert "7" in names  # the scale parameter, with its value as the label
    screenshot("preview")

    # a click on an electron shows its inputs; following one shows the parameter's value
    target = page.evaluate(
        """() => {
          const n = window.covalentRay.cy.nodes('[label = "preview_square"]')[0];
          const p = n.renderedPosition();
          return { x: p.x, y: p.y };
        }"""
    )
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    page.wait_for_selector("#preview-node-name", timeout=30_000)
    assert page.locator("#preview-node-name").inner_text() == "preview_square"
    assert "electron" in page.locator("#side-panel dl.facts").inner_text()

    # hiding parameters leaves only the electrons and their glue
    page.uncheck("#preview-parameters")
    page.wait_for_function(
        "() => window.covalentRay && !window.covalentRay.cy.nodes('[kind = \"parameter\"]').length",
        timeout=30_000,
    )


def test_an_unknown_preview_says_to_draw_again(page: Any, dashboard_url: str) -> None:
    page.goto(dashboard_url + "/#/preview/" + "0" * 32)
    page.wait_for_selector("#preview-missing", timeout=30_000)
    assert "lattice.draw() again" in page.locator("#preview-missing").inner_text()
