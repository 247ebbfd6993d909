// One dispatch: its summary, its transport graph (live), and a side panel with the
// lattice's inputs, result or error and source, or the selected electron's details.

import { ApiError, apiGet, apiPost, subscribe } from "./api.js";
import {
  badge, elapsed, fill, formatDuration, formatTime, h, textBlock, throttle, toast, valueBlock,
} from "./dom.js";
import { drawGraph } from "./graph.js";
import { STATUS_COLORS, TERMINAL } from "./status.js";

/** Above this many nodes, parameter nodes start hidden (a toggle shows them). */
const PARAMETERS_SHOWN_UP_TO = 400;

function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(h("dt", {}, k), h("dd", {}, v ?? "—"));
  }
  return dl;
}

function dispatchLink(id, text) {
  return h("a", { href: `#/dispatches/${id}`, class: "mono" }, text || id);
}

function countsLine(counts) {
  const parts = Object.entries(counts).map(([s, n]) => h("span", { style: { color: STATUS_COLORS[s] } }, `${n} ${s.toLowerCase().replaceAll("_", " ")}`));
  if (!parts.length) return "none";
  return parts.flatMap((p, i) => (i ? [", ", p] : [p]));
}

export function dispatchView(root, dispatchId) {
  let detail = null;
  let graph = null;
  let graphData = null;
  let selected = null;
  let tab = "overview";
  let disposed = false;
  let showParameters = true;

  const title = h("h1");
  const statusSlot = h("span");
  const idSlot = h("span", { class: "mono muted" }, dispatchId);
  const meta = h("div", { class: "meta" });
  const cancelBtn = h("button", { class: "danger", onclick: () => cancel() }, "Cancel");
  const redoBtn = h("button", { onclick: () => redispatch(false), title: "Run again with the same inputs" }, "Redispatch");
  const reuseBtn = h("button", { onclick: () => redispatch(true), title: "Run again, reusing the outputs of electrons whose code and inputs are unchanged" }, "Redispatch (reuse results)");
  const graphBox = h("div", { class: "graph", id: "graph" });
  const graphStatus = h("div", { class: "graph-status" }, "Loading graph…");
  const findBox = h("input", { type: "search", placeholder: "Find node (name or id)", "aria-label": "Find node" });
  const paramToggle = h("input", { type: "checkbox", checked: true });
  const graphInfo = h("span", { class: "muted" });
  const tabOverview = h("button", { onclick: () => showTab("overview") }, "Overview");
  const tabElectron = h("button", { onclick: () => showTab("electron") }, "Electron");
  const panel = h("div", { class: "panel", id: "side-panel" });

  fill(root, h("div", { class: "dispatch" },
    h("div", { class: "dispatch-head" },
      h("div", { class: "actions" }, cancelBtn, redoBtn, reuseBtn),
      h("a", { href: "#/" }, "← Dispatches"), " ", title, statusSlot, " ", idSlot, meta),
    h("div", { class: "dispatch-body" },
      h("div", { class: "graph-wrap" },
        h("div", { class: "graph-tools" }, findBox,
          h("label", {}, paramToggle, " parameters"),
          h("button", { onclick: () => graph && graph.fit() }, "Fit"),
          h("span", { class: "legend" }, ["RUNNING", "COMPLETED", "FAILED", "CANCELLED", "NEW_OBJECT"].map((s) => badge(s))),
          h("span", { style: { flex: 1 } }), graphInfo),
        graphBox, graphStatus),
      h("div", { class: "side" }, h("div", { class: "tabs" }, tabOverview, tabElectron), panel))));

  // -- summary and overview -------------------------------------------------------------

  function renderHead() {
    const d = detail;
    title.textContent = d.name;
    fill(statusSlot, badge(d.status));
    fill(meta,
      h("span", {}, "Started ", h("b", { title: d.start_time || "" }, formatTime(d.start_time))),
      h("span", {}, "Ended ", h("b", { title: d.end_time || "" }, formatTime(d.end_time))),
      h("span", {}, "Duration ", h("b", { class: "duration" }, formatDuration(d.duration_s ?? elapsed(d.start_time, d.end_time)))),
      h("span", {}, "Electrons ", h("b", {}, countsLine(d.electron_counts))),
      d.parent_dispatch_id ? h("span", {}, "Parent ", dispatchLink(d.parent_dispatch_id, d.parent_dispatch_id.slice(0, 8))) : null);
    const running = !TERMINAL.has(d.status);
    cancelBtn.disabled = !running;
    redoBtn.disabled = running;
    reuseBtn.disabled = running;
  }

  function renderOverview() {
    const d = detail;
    fill(panel,
      h("h2", {}, d.name),
      facts([
        ["Dispatch ID", h("span", { class: "mono" }, d.dispatch_id)],
        ["Status", badge(d.status)],
        ["Started", formatTime(d.start_time)],
        ["Ended", formatTime(d.end_time)],
        ["Executor", d.executor],
        ["Workflow executor", d.workflow_executor],
        ["Nodes", String(d.num_nodes)],
        ["Root dispatch", d.root_dispatch_id !== d.dispatch_id ? dispatchLink(d.root_dispatch_id) : undefined],
      ]),
      h("h3", {}, "Inputs"), valueBlock(d.inputs),
      d.error ? [h("h3", {}, "Error"), textBlock(d.error, { error: true })]
        : [h("h3", {}, "Result"), valueBlock(d.result, TERMINAL.has(d.status) ? "none" : "not yet")],
      d.children.length ? [h("h3", {}, "Sublattice dispatches"),
        h("ul", {}, d.children.map((c) => h("li", {}, dispatchLink(c.dispatch_id, c.name), " ", badge(c.status), h("span", { class: "muted" }, ` node ${c.parent_node_id}`))))] : null,
      d.lattice_doc ? [h("h3", {}, "Docstring"), textBlock(d.lattice_doc)] : null,
      h("h3", {}, "Source"), textBlock(d.lattice_source, { empty: "source not available" }));
  }

  // -- electron details ---------------------------------------------------------------

  let electronGeneration = 0;
  async function loadElectron(nodeId) {
    const mine = ++electronGeneration;
    let e;
    try {
      e = await apiGet(`/dispatches/${dispatchId}/electrons/${nodeId}`);
    } catch (err) {
      toast(`Loading node ${nodeId} failed: ${err.message}`, true);
      return;
    }
    if (mine !== electronGeneration || disposed || tab !== "electron") return;
    const inputs = e.inputs.filter((i) => i.kind !== "wait");
    fill(panel,
      h("h2", { id: "electron-name" }, e.name, " ", badge(e.status)),
      facts([
        ["Node", String(e.node_id)],
        ["Kind", e.kind],
        ["Executor", e.executor],
        ["Started", formatTime(e.start_time)],
        ["Ended", formatTime(e.end_time)],
        ["Duration", formatDuration(e.duration_s ?? (e.start_time ? elapsed(e.start_time, e.end_time) : null))],
        ["Ray node", e.ray_node_id ? h("span", { class: "mono", title: e.ray_node_id }, e.ray_node_id.slice(0, 16)) : null],
        ["Worker PID", e.worker_pid === null ? null : String(e.worker_pid)],
        ["Attempt", String(e.attempt)],
        ["Reused from", e.reused_from ? dispatchLink(e.reused_from) : undefined],
        ["Sublattice", e.sub_dispatch_id ? dispatchLink(e.sub_dispatch_id, "open child dispatch →") : undefined],
      ]),
      h("h3", {}, "Inputs"),
      inputs.length ? h("table", { class: "inputs" }, inputs.map((i) => h("tr", {},
        h("td", {}, i.param_name ?? (i.arg_index !== null ? `arg ${i.arg_index}` : "")),
        h("td", {}, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); select(i.source_node_id, true); } }, i.value.text ?? i.source_name)))))
        : h("pre", { class: "empty" }, "no inputs"),
      h("h3", {}, "Output"), h("div", { id: "electron-output" }, valueBlock(e.output, TERMINAL.has(e.status) ? "none" : "not yet")),
      h("h3", {}, "Stdout"), h("div", { id: "electron-stdout" }, textBlock(e.stdout)),
      h("h3", {}, "Stderr"), h("div", { id: "electron-stderr" }, textBlock(e.stderr)),
      e.error ? [h("h3", {}, "Error"), h("div", { id: "electron-error" }, textBlock(e.error, { error: true }))] : null,
      e.attempts.length > 1 ? [h("h3", {}, "Attempts"), h("ol", {}, e.attempts.map((a) => h("li", {},
        badge(a.status), ` ${formatTime(a.start_time)} – ${formatTime(a.end_time)}`, a.error ? textBlock(a.error, { error: true }) : null)))] : null);
  }

  function showTab(which) {
    tab = which;
    tabOverview.classList.toggle("active", which === "overview");
    tabElectron.classList.toggle("active", which === "electron");
    if (which === "overview") {
      if (detail) renderOverview();
    } else if (selected !== null) {
      loadElectron(selected);
    } else {
      fill(panel, h("p", { class: "muted" }, "Click a node of the graph to see its inputs, output, logs and timings."));
    }
  }

  function select(nodeId, center = false) {
    selected = nodeId;
    if (graph) graph.select(nodeId, center);
    showTab("electron");
  }

  // -- loading and live updates -----------------------------------------------------------

  async function loadDetail() {
    try {
      detail = await apiGet(`/dispatches/${dispatchId}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        fill(root, h("div", { class: "page empty-state" }, `No dispatch ${dispatchId} is stored. `, h("a", { href: "#/" }, "Back to the list")));
        disposed = true;
        return false;
      }
      toast(`Loading the dispatch failed: ${err.message}`, true);
      return false;
    }
    if (disposed) return false;
    renderHead();
    if (tab === "overview") renderOverview();
    return true;
  }

  async function loadGraph() {
    graphData = await apiGet(`/dispatches/${dispatchId}/graph`);
    if (disposed) return;
    if (graph) graph.destroy();
    graphStatus.textContent = `Laying out ${graphData.nodes.length} nodes…`;
    graphStatus.hidden = false;
    await new Promise((r) => setTimeout(r, 0)); // let the message paint before the layout runs
    graph = await drawGraph(graphBox, graphData, {
      showParameters,
      onSelect: (nodeId) => select(nodeId),
      onOpenChild: (sub) => { location.hash = `#/dispatches/${sub}`; },
    });
    graphStatus.hidden = true;
    const s = graph.stats;
    graphInfo.textContent = `${s.nodes} nodes, ${s.edges} edges · drawn in ${(s.totalMs / 1000).toFixed(2)} s`;
    graphBox.dataset.ready = "true";
    window.covalentRay = { cy: graph.cy, graphStats: s, select };
    if (selected !== null) graph.select(selected);
  }

  const refreshDetail = throttle(loadDetail, 1000);
  const refreshSelected = throttle(() => { if (selected !== null && tab === "electron") loadElectron(selected); }, 500);

  async function resync() {
    const fresh = await apiGet(`/dispatches/${dispatchId}/graph`);
    if (graph && !disposed) graph.refresh(fresh);
    refreshDetail();
    refreshSelected();
  }

  async function cancel() {
    cancelBtn.disabled = true;
    try {
      await apiPost(`/dispatches/${dispatchId}/cancel`, {});
      toast("Cancellation requested.");
    } catch (err) {
      toast(`Cancel failed: ${err.message}`, true);
    }
    refreshDetail();
  }

  async function redispatch(reuse) {
    try {
      const created = await apiPost(`/dispatches/${dispatchId}/redispatch`, { reuse_previous_results: reuse });
      toast("Redispatched.");
      location.hash = `#/dispatches/${created.dispatch_id}`;
    } catch (err) {
      toast(`Redispatch failed: ${err.message}`, true);
    }
  }

  findBox.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !graph) return;
    const hit = graph.find(findBox.value);
    if (hit === null) toast(`No node matches "${findBox.value}".`);
    else select(hit, true);
  });
  paramToggle.addEventListener("change", () => {
    showParameters = paramToggle.checked;
    loadGraph();
  });

  let stop = () => {};
  const ticker = setInterval(() => {
    if (detail && !TERMINAL.has(detail.status)) {
      const el = meta.querySelector(".duration");
      if (el) el.textContent = formatDuration(elapsed(detail.start_time, detail.end_time));
    }
  }, 1000);

  (async () => {
    showTab("overview");
    // subscribe first and read once the stream stands, so that no change falls between
    // the reads below and the stream
    const pending = [];
    let streamReady;
    const ready = new Promise((resolve) => { streamReady = resolve; });
    stop = subscribe({ dispatch_id: dispatchId }, (event, data) => {
      if (event === "ready") {
        streamReady();
        return;
      }
      if (event === "resync") {
        resync();
        return;
      }
      if (event !== "changes") return;
      const electrons = data.changes.filter((c) => c.type === "electron");
      if (graph) graph.setStatus(electrons);
      else pending.push(...electrons);
      if (selected !== null && electrons.some((c) => c.node_id === selected)) refreshSelected();
      refreshDetail();
    });
    await Promise.race([ready, new Promise((r) => setTimeout(r, 3000))]);
    if (!(await loadDetail())) {
      stop();
      return;
    }
    if (graphDataSize() > PARAMETERS_SHOWN_UP_TO) {
      showParameters = false;
      paramToggle.checked = false;
    }
    try {
      await loadGraph();
      // changes that arrived while the graph was read may be older or newer than it:
      // statuses never go back, so re-reading settles it
      if (pending.length) resync();
    } catch (err) {
      graphStatus.textContent = `Loading the graph failed: ${err.message}`;
    }
  })();

  function graphDataSize() {
    return detail ? detail.num_nodes : 0;
  }

  return () => {
    disposed = true;
    stop();
    clearInterval(ticker);
    if (graph) graph.destroy();
    delete window.covalentRay;
  };
}
