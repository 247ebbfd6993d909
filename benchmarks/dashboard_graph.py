"""How fast the dashboard draws, pans and zooms a 1,000-electron transport graph.

Run against a started service (``covalent-ray start``), with Debian's chromium installed:

    python benchmarks/dashboard_graph.py [--electrons 1000] [--repeat 3]

Two 1,000-electron shapes are dispatched and drawn by the real dashboard in headless
Chromium (driven by Playwright): a fan-out (``--electrons`` parallel electrons reduced by
one more) and a layered mesh (layers of 100, each electron fed by two of the layer
above). For each it prints the median time to read the graph from the API, to lay it
out and draw it (Cytoscape.js + dagre), from navigation to a drawn graph, and the mean
time per frame while panning and while zooming. The baseline, measured the same way in
the same run, is a 10-electron fan-out: the ratios say what size costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import covalent_ray as ct

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@ct.electron
def inc(x: int) -> int:
    return x + 1


@ct.electron
def add(a: int, b: int) -> int:
    return a + b


@ct.electron
def total(values: list[int]) -> int:
    return sum(values)


@ct.lattice
def fan_out(width: int) -> int:
    return total([inc(i) for i in range(width)])


@ct.lattice
def mesh(layers: int, width: int) -> int:
    row = [inc(i) for i in range(width)]
    for _ in range(layers - 1):
        row = [add(row[i], row[(i + 1) % width]) for i in range(width)]
    return total(row)


# Pans and zooms the drawn graph step by step, one step per animation frame, and
# reports the mean milliseconds per frame (what a user dragging or scrolling feels).
_INTERACT = """async () => {
  const cy = window.covalentRay.cy;
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const center = { x: cy.width() / 2, y: cy.height() / 2 };
  await frame();
  let t = performance.now();
  for (let i = 0; i < 60; i++) { cy.panBy({ x: i % 20 < 10 ? 12 : -12, y: 6 }); await frame(); }
  const pan = (performance.now() - t) / 60;
  t = performance.now();
  for (let i = 0; i < 60; i++) {
    cy.zoom({ level: cy.zoom() * (i < 30 ? 1.08 : 1 / 1.08), renderedPosition: center });
    await frame();
  }
  const zoom = (performance.now() - t) / 60;
  return { pan, zoom };
}"""


def measure(page: Any, base: str, dispatch_id: str) -> dict[str, float]:
    """Open the dispatch's page once and time each stage."""
    import httpx

    from covalent_ray.client.connect import api_headers

    t = time.perf_counter()
    httpx.get(
        f"{base}/api/v1/dispatches/{dispatch_id}/graph", headers=api_headers(), timeout=60
    ).raise_for_status()
    api_s = time.perf_counter() - t
    page.goto(f"{base}/#/")
    page.wait_for_selector("table.dispatches")
    t = time.perf_counter()
    page.evaluate(f"location.hash = '#/dispatches/{dispatch_id}'")
    page.wait_for_selector("#graph[data-ready=true]", timeout=120_000)
    ready_s = time.perf_counter() - t
    stats = page.evaluate("window.covalentRay.graphStats")
    frames = page.evaluate(_INTERACT)
    return {
        "nodes": stats["nodes"],
        "edges": stats["edges"],
        "api_s": api_s,
        "layout_s": stats["layoutMs"] / 1000,
        "draw_s": stats["totalMs"] / 1000,
        "ready_s": ready_s,
        "pan_ms": frames["pan"],
        "zoom_ms": frames["zoom"],
    }


def main() -> None:
    """Dispatch the shapes, then time the dashboard on each."""
    from playwright.sync_api import sync_playwright

    from covalent_ray.client.connect import connect, login_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--electrons", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = connect().info.api_url
    if not base:
        raise SystemExit("the service records no dashboard URL: start it with covalent-ray start")
    n = args.electrons
    shapes = {
        "baseline: fan-out of 10": ct.dispatch(fan_out)(10),
        f"fan-out of {n}": ct.dispatch(fan_out)(n),
        f"mesh {n // 100}x100": ct.dispatch(mesh)(max(n // 100, 1), 100),
    }
    for dispatch_id in shapes.values():
        ct.get_result(dispatch_id, wait=True)
    results: dict[str, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        login = login_url()
        if login:  # the tab keeps the API token for its session, as a user's does
            page.goto(login)
            page.wait_for_function("() => !location.hash.includes('token')")
        for name, dispatch_id in shapes.items():
            runs = [measure(page, base, dispatch_id) for _ in range(args.repeat)]
            results[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        browser.close()
    baseline = results["baseline: fan-out of 10"]
    print(
        f"{'shape':<26}{'nodes':>7}{'edges':>7}{'API s':>8}{'layout s':>10}{'draw s':>8}"
        f"{'ready s':>9}{'pan ms/f':>10}{'zoom ms/f':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:<26}{r['nodes']:>7.0f}{r['edges']:>7.0f}{r['api_s']:>8.3f}"
            f"{r['layout_s']:>10.3f}{r['draw_s']:>8.3f}{r['ready_s']:>9.3f}"
            f"{r['pan_ms']:>10.1f}{r['zoom_ms']:>11.1f}"
        )
    for name, r in results.items():
        if r is baseline:
            continue
        print(
            f"{name}: ready {r['ready_s'] / baseline['ready_s']:.1f}x the baseline, "
            f"pan {r['pan_ms'] / baseline['pan_ms']:.1f}x, "
            f"zoom {r['zoom_ms'] / baseline['zoom_ms']:.1f}x"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
