"""The HTTP server that `covalent-ray start` runs inside the service process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

import covalent_ray as ct

from . import workflows as wf
from .test_events import parse


def test_service_serves_the_api_and_dashboard_where_it_says(
    service: object, service_home: Path, api_headers: dict[str, str]
) -> None:
    info = json.loads((service_home / "service.json").read_text())
    url = info["api_url"]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":48008")
    with httpx.Client(base_url=url, timeout=60) as anonymous:
        # private by default, on loopback too: only health (and the static page) without
        assert anonymous.get("/api/v1/dispatches").status_code == 401
        assert anonymous.get("/metrics").status_code == 401
        assert anonymous.get("/api/v1/health").status_code == 200
    with httpx.Client(base_url=url, timeout=60, headers=api_headers) as http:
        assert http.get("/api/v1/health").json() == {"status": "ok", "result_manager": "ok"}
        page = http.get("/")
        assert page.status_code == 200 and "covalent-ray" in page.text
        # reads answer while a workflow runs, from the real store
        dispatch_id = ct.dispatch(wf.api_naps)(0.5)
        running = http.get(f"/api/v1/dispatches/{dispatch_id}")
        assert running.status_code == 200 and running.json()["name"] == "api_naps"
        ct.get_result(dispatch_id, wait=True, timeout=120)
        done = http.get(f"/api/v1/dispatches/{dispatch_id}").json()
        assert done["status"] == "COMPLETED" and done["result"]["value"] == [0.5, 0.5]
        # the stream flows through the real server too (uvicorn, not an in-process call)
        with http.stream(
            "GET",
            "/api/v1/events",
            params={"dispatch_id": dispatch_id, "since": 0, "until_end": "true"},
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = parse("".join(stream.iter_text()))
        assert events[-1] == ("end", {"dispatch_id": dispatch_id, "status": "COMPLETED"}, None)
