"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright,
against the HTTP server of the session's service (the real uvicorn, the real store).

Never skipped: without /usr/bin/chromium (``make browser`` installs it) the test fails.
Playwright never downloads a browser here; it drives the system one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import covalent_ray as ct

pytestmark = pytest.mark.browser


@ct.electron
def shout(word, seconds):
    import time

    print(f"shouting {word}")
    time.sleep(seconds)
    return word.upper()


@ct.electron
def exclaim(text):
    return text + "!"


@ct.lattice
def ui_shout(word, seconds):
    return exclaim(shout(word, seconds))


@ct.electron
def shout_at(word, gate):
    import os
    import time

    print(f"shouting {word}")
    deadline = time.monotonic() + 300  # the test opens the gate once it saw it running
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    return word.upper()


@ct.lattice
def ui_gated(word, gate):
    return exclaim(shout_at(word, gate))


def _row(page: Any, dispatch_id: str) -> Any:
    return page.locator(f'tr[data-dispatch-id="{dispatch_id}"]')


def _node_status(page: Any, name: str) -> str:
    return str(page.evaluate(
        "(name) => window.covalentRay.cy.nodes().filter(n => n.data('label') === name)"
        "[0].data('status')", name))


def test_list_shows_a_new_dispatch_and_its_end_live(page: Any, dashboard_url: str) -> None:
    page.goto(dashboard_url + "/")
    page.wait_for_selector("table.dispatches tbody")
    page.wait_for_selector("#live.on")  # the live stream is connected
    dispatch_id = ct.dispatch(ui_shout)("list", 2.0)
    row = _row(page, dispatch_id)
    row.wait_for(timeout=30_000)  # appears without a reload
    assert row.locator("td.name").inner_text().startswith("ui_shout")
    page.wait_for_selector(f'tr[data-dispatch-id="{dispatch_id}"][data-status="COMPLETED"]',
                           timeout=60_000)
    assert "2/2" in row.inner_text()  # electron counts, refreshed live too


def test_graph_updates_live_and_shows_node_details(page: Any, dashboard_url: str,
                                                  screenshot: Any, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    dispatch_id = ct.dispatch(ui_gated)("hello", str(gate))
    page.goto(dashboard_url + "/")
    _row(page, dispatch_id).locator("a").click()
    page.wait_for_selector("#graph[data-ready=true]", timeout=60_000)
    assert page.locator(".dispatch-head h1").inner_text() == "ui_gated"
    before = _node_status(page, "shout_at")
    assert before in ("NEW_OBJECT", "STARTING", "RUNNING"), before
    gate.touch()  # the electron ends only now, while the page watches
    # the node turns COMPLETED through the live stream (the page is not reloaded)
    deadline = time.monotonic() + 60
    while _node_status(page, "shout_at") != "COMPLETED":
        assert time.monotonic() < deadline, "the graph never showed the electron completed"
        page.wait_for_timeout(100)
    page.wait_for_selector('.dispatch-head .badge[data-status="COMPLETED"]', timeout=60_000)

    box = page.locator("#graph").bounding_box()
    at = page.evaluate("() => { const n = window.covalentRay.cy.nodes()"
                       ".filter(n => n.data('label') === 'shout_at')[0];"
                       " return n.renderedPosition(); }")
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    page.wait_for_selector("#electron-output")
    assert page.locator("#electron-name").inner_text().startswith("shout_at")
    assert page.locator("#electron-output").inner_text() == "'HELLO'"
    assert page.locator("#electron-stdout").inner_text().strip() == "shouting hello"
    assert "COMPLETED" in page.locator("#electron-name .badge").inner_text()
    inputs = page.locator("table.inputs").first.inner_text()
    assert "word" in inputs and "'hello'" in inputs
    # the electron's own source, and the executor it ran on
    assert "def shout_at(word, gate):" in page.locator("#electron-source").inner_text()
    assert "Dask-on-Ray" in page.locator("#electron-executor-settings").inner_text()

    page.locator(".tabs button", has_text="Overview").click()
    overview = page.locator("#side-panel").inner_text()
    assert "'HELLO!'" in overview and "def ui_gated(word, gate)" in overview

    shot = screenshot("dispatch")
    assert shot.stat().st_size > 10_000


TOKEN = "dashboard-test-token-0123456789"


@pytest.fixture
def guarded_url(service: object, service_home: Path) -> Iterator[str]:
    """A second server of the same application that requires an API token."""
    import uvicorn

    from covalent_ray.api import ServiceBackend, create_app
    from covalent_ray.api._security import LOOPBACK_HOSTS
    from covalent_ray.service.options import ApiOptions, bind

    app = create_app(ServiceBackend.connect(service_home), token=TOKEN,
                     allowed_hosts=LOOPBACK_HOSTS)
    sock = bind(ApiOptions(port=0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def test_dashboard_asks_for_the_api_token(guarded_url: str, page: Any) -> None:
    dispatch_id = ct.dispatch(ui_shout)("token", 0.1)
    ct.get_result(dispatch_id, wait=True, timeout=120)
    page.goto(guarded_url + "/")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", TOKEN)
    page.click("#token-form button[type=submit]")
    _row(page, dispatch_id).wait_for(timeout=30_000)  # the list loaded with the token
    page.wait_for_selector("#live.on")  # and the live stream authenticated too
