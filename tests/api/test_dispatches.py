"""Reading dispatches, graphs and electrons through the REST API."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

import covalent_ray as ct

from . import workflows as wf

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def dispatched(service: object) -> dict[str, str]:
    """One finished dispatch of each test lattice (the outer one has a child)."""
    ids = {
        "hello": ct.dispatch(wf.api_hello)("Hello", "World"),
        "broken": ct.dispatch(wf.api_broken)(7),
        "outer": ct.dispatch(wf.api_outer)(5),
    }
    for dispatch_id in ids.values():
        ct.get_result(dispatch_id, wait=True, timeout=120)
    return ids


async def test_list_filters_by_name_and_status(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    r = await client.get("/api/v1/dispatches", params={"name": "api_hello"})
    assert r.status_code == 200
    page = r.json()
    mine = [d for d in page["items"] if d["dispatch_id"] == dispatched["hello"]]
    assert len(mine) == 1
    hello = mine[0]
    assert hello["name"] == "api_hello" and hello["status"] == "COMPLETED"
    assert hello["electron_counts"] == {"COMPLETED": 2}
    assert hello["duration_s"] > 0 and hello["error"] is None
    assert hello["start_time"].endswith("Z")  # UTC, explicitly
    assert all("api_hello" in d["name"] for d in page["items"])

    r = await client.get("/api/v1/dispatches", params={"status": "FAILED", "name": "api_"})
    names = {d["name"] for d in r.json()["items"]}
    assert names == {"api_broken"}

    r = await client.get(
        "/api/v1/dispatches",
        params=[("status", "FAILED"), ("status", "COMPLETED"), ("name", "api_")],
    )
    ids = {d["dispatch_id"] for d in r.json()["items"]}
    assert set(dispatched.values()) <= ids


async def test_list_paginates_sorts_and_hides_children(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    everything = (
        await client.get(
            "/api/v1/dispatches",
            params={"name": "api_", "sort": "name", "order": "asc", "limit": 500},
        )
    ).json()
    names = [d["name"] for d in everything["items"]]
    assert names == sorted(names)
    assert "api_inner" in names  # the sublattice's own dispatch is listed by default
    assert everything["total"] == len(everything["items"]) >= 4

    roots = (
        await client.get(
            "/api/v1/dispatches", params={"name": "api_", "root_only": "true", "limit": 500}
        )
    ).json()
    assert "api_inner" not in {d["name"] for d in roots["items"]}
    assert roots["total"] == everything["total"] - sum(n == "api_inner" for n in names)

    first = (
        await client.get(
            "/api/v1/dispatches",
            params={"name": "api_", "sort": "name", "order": "asc", "limit": 2, "offset": 0},
        )
    ).json()
    second = (
        await client.get(
            "/api/v1/dispatches",
            params={"name": "api_", "sort": "name", "order": "asc", "limit": 2, "offset": 2},
        )
    ).json()
    assert first["total"] == everything["total"] and (first["limit"], second["offset"]) == (2, 2)
    assert [d["dispatch_id"] for d in first["items"] + second["items"]] == [
        d["dispatch_id"] for d in everything["items"][:4]
    ]


async def test_dispatch_detail_has_inputs_result_source_and_counts(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    r = await client.get(f"/api/v1/dispatches/{dispatched['hello']}")
    assert r.status_code == 200
    d = r.json()
    assert d["status"] == "COMPLETED" and d["error"] is None
    assert d["inputs"] == {
        "text": "{'args': ['Hello', 'World'], 'kwargs': {}}",
        "value": {"args": ["Hello", "World"], "kwargs": {}},
        "is_json": True,
    }
    assert d["result"]["value"] == "Hello, World!" and d["result"]["text"] == "'Hello, World!'"
    assert "def api_hello(a: str, b: str)" in d["lattice_source"]
    assert d["lattice_doc"] == "Join two words and get excited."
    assert d["electron_counts"] == {"COMPLETED": 2} and d["num_nodes"] == 4
    assert d["parent_dispatch_id"] is None and d["children"] == []
    assert d["root_dispatch_id"] == d["dispatch_id"]
    start, end = (datetime.fromisoformat(d[k]) for k in ("start_time", "end_time"))
    assert start <= end and d["duration_s"] == pytest.approx((end - start).total_seconds())


async def test_failed_dispatch_reports_the_error(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    d = (await client.get(f"/api/v1/dispatches/{dispatched['broken']}")).json()
    assert d["status"] == "FAILED"
    assert "explode" in d["error"]
    assert d["result"] == {"text": None, "value": None, "is_json": False}
    assert d["electron_counts"] == {"FAILED": 1}

    graph = (await client.get(f"/api/v1/dispatches/{dispatched['broken']}/graph")).json()
    node = next(n for n in graph["nodes"] if n["name"] == "explode")
    e = (
        await client.get(f"/api/v1/dispatches/{dispatched['broken']}/electrons/{node['id']}")
    ).json()
    assert e["status"] == "FAILED"
    assert "Traceback" in e["error"] and "ValueError: cannot take 7" in e["error"]
    assert e["output"]["text"] is None


async def test_sublattice_links_parent_and_child(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    outer = (await client.get(f"/api/v1/dispatches/{dispatched['outer']}")).json()
    assert outer["result"]["value"] == 20
    [child] = outer["children"]
    assert child["name"] == "api_inner" and child["status"] == "COMPLETED"

    graph = (await client.get(f"/api/v1/dispatches/{dispatched['outer']}/graph")).json()
    sub = next(n for n in graph["nodes"] if n["kind"] == "sublattice")
    assert sub["sub_dispatch_id"] == child["dispatch_id"]
    assert child["parent_node_id"] == sub["id"]

    inner = (await client.get(f"/api/v1/dispatches/{child['dispatch_id']}")).json()
    assert inner["parent_dispatch_id"] == dispatched["outer"]
    assert inner["root_dispatch_id"] == dispatched["outer"]
    assert inner["result"]["value"] == 10


async def test_graph_has_nodes_and_named_edges(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    r = await client.get(f"/api/v1/dispatches/{dispatched['hello']}/graph")
    assert r.status_code == 200
    g = r.json()
    by_name = {n["name"]: n for n in g["nodes"]}
    assert set(by_name) == {"join_words", "excitement", ":parameter:Hello", ":parameter:World"}
    join, excite = by_name["join_words"], by_name["excitement"]
    assert join["kind"] == "electron" and join["status"] == "COMPLETED"
    assert join["executor"] and join["start_time"] and join["end_time"]
    assert by_name[":parameter:Hello"]["kind"] == "parameter"
    edges = {(e["source"], e["target"], e["param_name"]) for e in g["edges"]}
    assert edges == {
        (by_name[":parameter:Hello"]["id"], join["id"], "a"),
        (by_name[":parameter:World"]["id"], join["id"], "b"),
        (join["id"], excite["id"], "a"),
    }


async def test_graph_groups_repeated_electrons_above_a_threshold(
    client: httpx.AsyncClient, service: object
) -> None:
    did = ct.dispatch(wf.api_fan)(12)
    ct.get_result(did, wait=True, timeout=120)
    url = f"/api/v1/dispatches/{did}/graph"
    whole = (await client.get(url, params={"group": "auto"})).json()
    assert whole["grouped"] is False and whole["groups"] == []  # under the threshold
    assert len(whole["nodes"]) == whole["total_nodes"] == 26

    g = (await client.get(url, params={"group": "auto", "threshold": 10})).json()
    assert g["grouped"] is True and g["total_nodes"] == 26
    incs = next(x for x in g["groups"] if x["name"] == "api_inc")
    assert incs["size"] == 12 and incs["counts"] == {"COMPLETED": 12}
    assert {n["id"] for n in whole["nodes"] if n["name"] == "api_inc"} == set(incs["members"])
    assert {n["name"] for n in g["nodes"]} == {"api_total", ":electron_list:"}
    into_list = next(e for e in g["edges"] if e["source"] == incs["id"])
    assert into_list["count"] == 12

    # an expanded group comes back as its nodes
    g = (
        await client.get(url, params={"group": "auto", "threshold": 10, "expand": incs["id"]})
    ).json()
    assert "api_inc" not in {x["name"] for x in g["groups"]}
    assert sum(n["name"] == "api_inc" for n in g["nodes"]) == 12

    r = await client.get(url, params={"group": "sometimes"})
    assert r.status_code == 422


async def test_electron_detail_has_inputs_output_logs_and_placement(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    did = dispatched["hello"]
    graph = (await client.get(f"/api/v1/dispatches/{did}/graph")).json()
    join = next(n for n in graph["nodes"] if n["name"] == "join_words")
    r = await client.get(f"/api/v1/dispatches/{did}/electrons/{join['id']}")
    assert r.status_code == 200
    e = r.json()
    assert e["name"] == "join_words" and e["status"] == "COMPLETED"
    assert [(i["param_name"], i["value"]["value"], i["source_kind"]) for i in e["inputs"]] == [
        ("a", "Hello", "parameter"),
        ("b", "World", "parameter"),
    ]
    assert e["output"] == {"text": "'Hello, World'", "value": "Hello, World", "is_json": True}
    assert e["stdout"] == "joining Hello and World\n"
    assert e["stderr"] == "" and e["error"] is None
    assert e["executor"] == join["executor"]
    assert e["ray_node_id"] and e["worker_pid"] > 0 and e["attempt"] >= 1
    assert e["duration_s"] >= 0
    # the drawer's source and executor: the default executor, without settings
    assert "def join_words(a: str, b: str) -> str:" in e["source"]
    assert 'print(f"joining {a} and {b}")' in e["source"]
    assert e["executor_settings"] == {
        "name": "dask",
        "type": "Dask-on-Ray (the default)",
        "settings": {},
    }

    excite = next(n for n in graph["nodes"] if n["name"] == "excitement")
    e = (await client.get(f"/api/v1/dispatches/{did}/electrons/{excite['id']}")).json()
    [feed] = e["inputs"]
    assert (feed["source_node_id"], feed["source_name"], feed["value"]["value"]) == (
        join["id"],
        "join_words",
        "Hello, World",
    )


async def test_electron_detail_shows_its_executors_settings(
    client: httpx.AsyncClient, tmp_path
) -> None:
    from covalent_ray.executors import LocalExecutor

    local = LocalExecutor(workdir=str(tmp_path / "work"))
    on_local = ct.electron(wf.triple, executor=local)

    @ct.lattice
    def api_local_settings(x):
        return on_local(x)

    did = ct.dispatch(api_local_settings)(4)
    assert ct.get_result(did, wait=True, timeout=120).result == 12
    e = (await client.get(f"/api/v1/dispatches/{did}/electrons/0")).json()
    settings = e["executor_settings"]
    assert settings["name"] == "local"
    assert settings["type"].endswith("LocalExecutor")
    assert settings["settings"]["workdir"] == str(tmp_path / "work")
    assert "def triple(x: int) -> int:" in e["source"]


async def test_unknown_ids_are_404_with_a_clear_message(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    unknown = "0c5e0d9e-0000-4000-8000-000000000000"
    for path in (
        f"/api/v1/dispatches/{unknown}",
        f"/api/v1/dispatches/{unknown}/graph",
        f"/api/v1/dispatches/{unknown}/electrons/0",
        f"/api/v1/events?dispatch_id={unknown}",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"] == "MissingDispatchError"
        assert unknown in r.json()["detail"]
    r = await client.get(f"/api/v1/dispatches/{dispatched['hello']}/electrons/999")
    assert r.status_code == 404
    assert r.json()["error"] == "UnknownElectronError"
    assert "no node 999" in r.json()["detail"]
    r = await client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and "no API operation" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/dispatches?status=DONE",
        "/api/v1/dispatches?limit=0",
        "/api/v1/dispatches?limit=100000",
        "/api/v1/dispatches?offset=-1",
        "/api/v1/dispatches?sort=dispatch_id;DROP TABLE dispatches",
        "/api/v1/dispatches?order=sideways",
        "/api/v1/dispatches?root_only=maybe",
        "/api/v1/dispatches?name=" + "x" * 201,
        "/api/v1/dispatches/not a uuid",
        "/api/v1/dispatches/abc'--/graph",
        "/api/v1/dispatches/0c5e0d9e-0000-4000-8000-000000000000/electrons/-1",
        "/api/v1/dispatches/0c5e0d9e-0000-4000-8000-000000000000/electrons/one",
        "/api/v1/dispatches/0c5e0d9e-0000-4000-8000-000000000000/electrons/99999999999",
        "/api/v1/events?since=-5",
        "/api/v1/events?dispatch_id=%00",
    ],
)
async def test_invalid_input_is_a_4xx(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)


async def test_health_version_and_stats(
    client: httpx.AsyncClient, dispatched: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/health")).json() == {"status": "ok", "result_manager": "ok"}
    v = (await client.get("/api/v1/version")).json()
    assert v["api"] == "v1" and v["covalent_ray"] == ct.__version__
    stats = (await client.get("/api/v1/stats")).json()["dispatches_by_status"]
    assert stats["COMPLETED"] >= 3 and stats["FAILED"] >= 1


async def test_openapi_docs_and_dashboard_are_served(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {
        "/api/v1/dispatches",
        "/api/v1/dispatches/{dispatch_id}",
        "/api/v1/dispatches/{dispatch_id}/graph",
        "/api/v1/dispatches/{dispatch_id}/electrons/{node_id}",
        "/api/v1/events",
        "/api/v1/health",
        "/api/v1/version",
    } <= set(schema["paths"])
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/ui/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    bundle = await client.get("/ui/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000  # served locally
    page = await client.get("/")
    assert page.status_code == 200 and "ui/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in (
        "ui/app.js",
        "ui/vendor/cytoscape/cytoscape.min.js",
        "ui/vendor/cytoscape-dagre/cytoscape-dagre.min.js",
    ):
        assert (await client.get("/" + asset)).status_code == 200, asset
