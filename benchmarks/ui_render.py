"""How soon the dashboard shows, and answers on, a dispatch of 1,000, 10,000 and 100,000
nodes (repeated electrons grouped above the dashboard's threshold).

Run against a started service (``covalent-ray start``), with Debian's chromium installed:

    python benchmarks/ui_render.py [--nodes 1000,10000,100000] [--repeat 3]

Each size is a fan-out of cheap electrons and their parameters reduced by one more
(``nodes / 2 - 1`` electrons, so the graph has ``nodes`` nodes), dispatched and run to the
end first. The real dashboard then opens the dispatch's page in headless Chromium
(Playwright) from a fresh load, and the benchmark reports the median of:

- **first paint**: from navigation to the graph drawn on screen (read, grouped, laid out
  and painted: two animation frames after the layout);
- **interactive**: from navigation to a click on the largest node having opened its
  panel (the main thread free again);
- the graph answer's size and the nodes and edges drawn.

The baseline, measured the same way in the same run, is a 10-node fan-out; the ratios
say what size costs. The goal is under 2 s for 10,000 nodes.
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
def total(values: list[int]) -> int:
    return sum(values)


@ct.lattice
def fan_out(width: int) -> int:
    return total([inc(i) for i in range(width)])


# the drawn node with the widest label (a group when grouped), where a user clicks
_TARGET = """() => {
  const cy = window.covalentRay.cy;
  const n = cy.nodes().max((x) => x.data("size") || x.data("w")).ele;
  const p = n.renderedPosition();
  return { x: p.x, y: p.y, group: n.data("kind") === "group" };
}"""


def measure(page: Any, base: str, dispatch_id: str) -> dict[str, float]:
    """Load the dispatch's page afresh and time it."""
    import httpx

    answer = httpx.get(
        f"{base}/api/v1/dispatches/{dispatch_id}/graph", params={"group": "auto"}, timeout=120
    )
    answer.raise_for_status()
    page.goto("about:blank")
    page.goto(f"{base}/#/dispatches/{dispatch_id}")
    page.wait_for_selector("#graph[data-ready=true]", timeout=600_000)
    painted_ms = page.evaluate(
        "() => performance.getEntriesByName('covalent-ray:graph-drawn')[0].startTime"
    )
    target = page.evaluate(_TARGET)
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    page.wait_for_selector("#group-name" if target["group"] else "#electron-name", timeout=600_000)
    interactive_ms = page.evaluate("() => performance.now()")
    stats = page.evaluate("window.covalentRay.graphStats")
    return {
        "answer_kb": len(answer.content) / 1024,
        "drawn_nodes": stats["nodes"],
        "drawn_edges": stats["edges"],
        "first_paint_s": painted_ms / 1000,
        "interactive_s": interactive_ms / 1000,
    }


def main() -> None:
    """Dispatch the sizes, run them to the end, then time the dashboard on each."""
    from playwright.sync_api import sync_playwright

    from covalent_ray.client.connect import connect

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = connect().info.api_url
    if not base:
        raise SystemExit("the service records no dashboard URL: start it with covalent-ray start")
    sizes = [10] + [int(n) for n in args.nodes.split(",")]
    shapes: dict[int, str] = {}
    for n in sizes:
        t = time.perf_counter()
        shapes[n] = ct.dispatch(fan_out)(max(n // 2 - 1, 1))
        ct.get_result(shapes[n], wait=True)
        print(f"{n:>7} nodes dispatched and run in {time.perf_counter() - t:.1f} s", flush=True)
    results: dict[int, dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for n, dispatch_id in shapes.items():
            runs = [measure(page, base, dispatch_id) for _ in range(args.repeat)]
            results[n] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        browser.close()
    baseline = results[10]
    print(
        f"{'nodes':>7}{'drawn':>7}{'edges':>7}{'answer KB':>11}{'first paint s':>15}"
        f"{'interactive s':>15}{'vs baseline':>13}"
    )
    for n, r in results.items():
        print(
            f"{n:>7}{r['drawn_nodes']:>7.0f}{r['drawn_edges']:>7.0f}{r['answer_kb']:>11.0f}"
            f"{r['first_paint_s']:>15.2f}{r['interactive_s']:>15.2f}"
            f"{r['interactive_s'] / baseline['interactive_s']:>12.1f}x"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
