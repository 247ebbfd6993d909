"""How soon the dashboard shows, and answers on, a dispatch of 1,000, 10,000 and 100,000
nodes (repeated electrons grouped above the dashboard's threshold).

Run against a started service (``covalent-ray start``), with Debian's chromium installed:

    python benchmarks/ui_render.py [--nodes 1000,10000,100000] [--repeat 3]

Each size is a fan-out of cheap electrons and their parameters reduced by one more
(``nodes / 2 - 1`` electrons, so the graph has ``nodes`` nodes), dispatched and run to the
end first. The real dashboard then opens the dispatch's page in headless Chromium
(Playwright) from a fresh load, logged in through the login link as a user is, and the
benchmark reports, over ``--repeat`` loads, the median and the range (min-max) of:

- **first paint**: from navigation to the graph drawn on screen (read, grouped, laid out
  and painted: two animation frames after the layout);
- **interactive**: from navigation to a click on the largest node having opened its
  panel (the main thread free again);
- the graph answer's size and the nodes and edges drawn;
- where the first paint's time goes: when the live stream stood (the page reads once it
  stands, so that no change is missed), the dispatch and then its graph were read
  (performance marks of the page), how long the layout took, and how long the graph's
  API answer takes on its own (fetched before each load);
- CPU seconds, as a machine shared with other work stretches every time above: what the
  graph's API answer cost the result manager and the service process together (from
  ``/proc``), and what the page's main thread used from navigation to the first paint
  (Chromium's ``ThreadTime``). Their sum is about what a first paint takes on an idle
  machine, with the network and the browser's other threads besides.

The baseline, measured the same way in the same run, is a 10-node fan-out; the ratios
say what size costs. The goal is under 2 s for 10,000 nodes. The machine's load average
is printed before and after the measurements, as the figures depend on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


# when each stage of the page's load ended, in ms from navigation (performance marks)
_MARKS = """() => Object.fromEntries(
  ["stream-ready", "detail-read", "graph-read", "graph-drawn"].map((m) => {
    const e = performance.getEntriesByName(`covalent-ray:${m}`)[0];
    return [m, e ? e.startTime : null];
  }))"""


_DRAWN_OR_FAILED = """() => document.querySelector('#graph[data-ready=true]')
  || (document.querySelector('.graph-status') || {textContent: ''}).textContent
       .startsWith('Loading the graph failed')"""


def _median(values: list[float]) -> float:
    known = [v for v in values if not math.isnan(v)]  # a stage that had not happened yet
    return statistics.median(known) if known else float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system, all threads) the processes have used so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _thread_time(cdp: Any) -> float:
    """CPU seconds the page's main thread has used (Chromium's ThreadTime metric)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


def measure(
    page: Any, cdp: Any, base: str, headers: dict[str, str], server: list[int], dispatch_id: str
) -> dict[str, float]:
    """Load the dispatch's page afresh and time it."""
    import httpx

    cpu = cpu_seconds(server)
    t = time.perf_counter()
    answer = httpx.get(
        f"{base}/api/v1/dispatches/{dispatch_id}/graph",
        params={"group": "auto"},
        headers=headers,
        timeout=120,
    )
    answer_s = time.perf_counter() - t
    answer_cpu_s = cpu_seconds(server) - cpu
    if answer.is_error:
        raise RuntimeError(f"GET graph answered {answer.status_code}: {answer.text[:300]}")
    page.goto("about:blank")
    thread = _thread_time(cdp)
    page.goto(f"{base}/#/dispatches/{dispatch_id}")
    page.wait_for_function(_DRAWN_OR_FAILED, timeout=600_000)
    failed = page.evaluate("document.querySelector('.graph-status').textContent")
    if page.locator("#graph[data-ready=true]").count() == 0:
        raise RuntimeError(f"the dashboard did not draw dispatch {dispatch_id}: {failed}")
    page_cpu_s = _thread_time(cdp) - thread
    marks = {k: float("nan") if v is None else v for k, v in page.evaluate(_MARKS).items()}
    painted_ms = marks["graph-drawn"]
    target = page.evaluate(_TARGET)
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
    page.wait_for_selector("#group-name" if target["group"] else "#electron-name", timeout=600_000)
    interactive_ms = page.evaluate("() => performance.now()")
    stats = page.evaluate("window.covalentRay.graphStats")
    return {
        "stream_s": marks["stream-ready"] / 1000,
        "detail_s": marks["detail-read"] / 1000,
        "graph_read_s": marks["graph-read"] / 1000,
        "layout_s": stats["layoutMs"] / 1000,
        "answer_kb": len(answer.content) / 1024,
        "answer_s": answer_s,
        "answer_cpu_s": answer_cpu_s,
        "page_cpu_s": page_cpu_s,
        "drawn_nodes": stats["nodes"],
        "drawn_edges": stats["edges"],
        "first_paint_s": painted_ms / 1000,
        "interactive_s": interactive_ms / 1000,
    }


def main() -> None:
    """Dispatch the sizes, run them to the end, then time the dashboard on each."""
    import ray
    from playwright.sync_api import sync_playwright

    from covalent_ray.client.connect import api_headers, connect, login_url

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time completed fan-outs of these sizes the service already holds (a run of "
        "100,000 nodes takes minutes) instead of dispatching new ones",
    )
    args = parser.parse_args()
    conn = connect()
    base = conn.info.api_url
    login = login_url()
    # the processes that answer the graph: the result manager (reads) and the service (API)
    pids = [ray.get(conn.result_manager.pid.remote()), conn.info.service_pid]
    server = [int(pid) for pid in pids if pid]
    if not base or not login:
        raise SystemExit("the service records no dashboard URL: start it with covalent-ray start")
    headers = api_headers()
    sizes = [10] + [int(n) for n in args.nodes.split(",")]
    shapes: dict[int, str] = {}
    held: dict[int, str] = {}
    if args.reuse:
        from covalent_ray.sdk.history import list_dispatches

        for row in list_dispatches(name="fan_out", status=["COMPLETED"], limit=1000):
            held.setdefault(int(row["num_nodes"]), row["dispatch_id"])
    for n in sizes:
        if n in held:
            shapes[n] = held[n]
            print(f"{n:>7} nodes: reusing dispatch {held[n]}", flush=True)
            continue
        t = time.perf_counter()
        shapes[n] = ct.dispatch(fan_out)(max(n // 2 - 1, 1))
        ct.get_result(shapes[n], wait=True)
        print(f"{n:>7} nodes dispatched and run in {time.perf_counter() - t:.1f} s", flush=True)
    load_before = os.getloadavg()
    results: dict[int, dict[str, float]] = {}
    spread: dict[int, dict[str, tuple[float, float]]] = {}
    failures: dict[int, int] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(login)  # the tab keeps the token for its session, as a user's does
        page.wait_for_function("() => !location.hash.includes('token')")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})  # CPU, not wall, time
        for n, dispatch_id in shapes.items():
            runs = []
            for _ in range(args.repeat):
                try:
                    runs.append(measure(page, cdp, base, headers, server, dispatch_id))
                except RuntimeError as exc:  # counted, and the next load tried
                    failures[n] = failures.get(n, 0) + 1
                    print(f"{n:>7} nodes: {exc}", flush=True)
            if not runs:
                continue
            results[n] = {k: _median([r[k] for r in runs]) for k in runs[0]}
            spread[n] = {k: (min(r[k] for r in runs), max(r[k] for r in runs)) for k in runs[0]}
        browser.close()
    load_after = os.getloadavg()
    if 10 not in results:
        raise SystemExit("the 10-node baseline never drew: see the errors above")
    baseline = results[10]

    def cell(n: int, key: str) -> str:
        low, high = spread[n][key]
        return f"{results[n][key]:.2f} ({low:.2f}-{high:.2f})"

    print(
        f"{'nodes':>7} {'drawn':>6} {'edges':>6} {'answer KB':>9}  {'first paint s':<19}"
        f"{'interactive s':<19}{'vs baseline':>11}"
    )
    for n, r in results.items():
        print(
            f"{n:>7} {r['drawn_nodes']:>6.0f} {r['drawn_edges']:>6.0f} {r['answer_kb']:>9.0f}  "
            f"{cell(n, 'first_paint_s'):<19}{cell(n, 'interactive_s'):<19}"
            f"{r['interactive_s'] / baseline['interactive_s']:>10.1f}x"
            + (f"  ({failures[n]} of {args.repeat} loads failed)" if n in failures else "")
        )
    for n in sorted(set(failures) - set(results)):
        print(f"{n:>7}  every load failed ({failures[n]})")
    print("\nwhere a first paint goes: when each stage ended, s from navigation (medians)")
    print(
        f"{'nodes':>7} {'live stream':>12} {'dispatch read':>14} {'graph read':>11} "
        f"{'layout':>7} {'graph answer alone':>19}"
    )
    for n, r in results.items():
        print(
            f"{n:>7} {r['stream_s']:>12.2f} {r['detail_s']:>14.2f} {r['graph_read_s']:>11.2f}"
            f" {r['layout_s']:>7.2f} {r['answer_s']:>19.2f}"
        )
    print("\nCPU seconds, which the machine's load changes far less than the times above (medians)")
    print(f"{'nodes':>7} {'graph answer, server':>21} {'page to first paint, main thread':>33}")
    for n, r in results.items():
        print(f"{n:>7} {r['answer_cpu_s']:>21.2f} {r['page_cpu_s']:>33.2f}")
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
    )
    print(json.dumps({"median": results, "range": spread, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()
