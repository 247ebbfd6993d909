"""Dispatch IDs and Results in a Jupyter notebook: an HTML summary with a dashboard link."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import covalent_ray as ct
from covalent_ray.sdk.notebook import DispatchId, dashboard_url


@ct.electron
def nb_tag(text):
    return f"<b>{text}</b>"


@ct.lattice
def nb_markup(text):
    return nb_tag(text)


@ct.electron
def nb_fail(x):
    raise ValueError(f"<script>alert({x})</script>")


@ct.lattice
def nb_broken(x):
    return nb_fail(x)


def test_a_dispatch_id_is_a_plain_string_everywhere() -> None:
    d = DispatchId.of("0c5e0d9e-0000-4000-8000-000000000000", "/nowhere")
    assert d == "0c5e0d9e-0000-4000-8000-000000000000" and isinstance(d, str)
    assert hash(d) == hash(str(d)) and json.dumps(d) == json.dumps(str(d))
    back = pickle.loads(pickle.dumps(d))
    assert back == d and type(back) is str  # stored and sent as the plain ID


def test_without_a_running_service_there_is_no_link(tmp_path: Path) -> None:
    assert dashboard_url("abc", tmp_path) is None
    shown = DispatchId.of("abc", tmp_path)._repr_html_()
    assert "<code>abc</code>" in shown and "service is not running" in shown


def test_notebook_summaries_link_to_the_dashboard(service: object, service_home: Path) -> None:
    api_url = json.loads((service_home / "service.json").read_text())["api_url"]
    dispatch_id = ct.dispatch(nb_markup)("<img src=x onerror=alert(1)>")
    assert isinstance(dispatch_id, DispatchId)
    ct.get_result(dispatch_id, wait=True, timeout=120)
    link = f'href="{api_url}/#/dispatches/{dispatch_id}"'

    shown = dispatch_id._repr_html_()
    assert link in shown and "COMPLETED" in shown

    result = ct.get_result(dispatch_id)
    shown = result._repr_html_()
    assert link in shown and "nb_markup" in shown and "COMPLETED" in shown
    assert "1 completed" in shown  # the electron, not the parameter
    # the result's markup is shown as text, never as HTML
    assert "<img" not in shown and "&lt;b&gt;&lt;img src=x onerror=alert(1)&gt;" in shown

    failed = ct.dispatch_sync(nb_broken)(7)
    shown = failed._repr_html_()
    assert "FAILED" in shown and "<script>" not in shown and "&lt;script&gt;" in shown
    assert f"/#/dispatches/{failed.dispatch_id}" in shown
