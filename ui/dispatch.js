// One dispatch: its summary, its transport graph (live), and a side panel with the
// lattice's inputs, result or error and source, or the selected electron's details.

import { ApiError, apiGet, apiPost, subscribe } from "./api.js";
import {
  badge, elapsed, fill, formatDuration, formatTime, h, textBlock, throttle, toast, valueBlock,
} from "./dom.js";
import { drawGraph } from "./graph.js";
import { attachMinimap } from "./minimap.js";
import { drawTimeline } from "./timeline.js";
import { STATUS_COLORS, TERMINAL } from "./status.js";

/** Above this many nodes, parameter nodes start hidden (a toggle shows them). */
const PARAMETERS_SHOWN_UP_TO = 400;
/** A group of more members than this is listed, not expanded into the graph. */
const EXPAND_UP_TO = 5000;
/** The group panel lists this many members at a time. */
const MEMBERS_LISTED = 200;

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

export function dispatchView(root, dispatchId, query = new URLSearchParams()) {
  let detail = null;
  let graph = null;
  let graphData = null;
  let selected = null;
  let tab = "overview";
  let disposed = false;
  let showParameters = true;
  let mode = query.get("view") === "timeline" ? "timeline" : "graph";
  let timeline = null;
  let timelineData = null;
  let selectedGroup = null;
  const expanded = new Set();
  const groupAbove = /^\d+$/.test(query.get("group_above") || "") ? query.get("group_above") : undefined;

  const title = h("h1");
  const statusSlot = h("span");
  const idSlot = h("span", { class: "mono muted" }, dispatchId);
  const meta = h("div", { class: "meta" });
  const cancelBtn = h("button", { class: "danger", onclick: () => cancel() }, "Cancel");
  const redoBtn = h("button", { onclick: () => redispatch(false), title: "Run again with the same inputs" }, "Redispatch");
  const reuseBtn = h("button", { onclick: () => redispatch(true), title: "Run again, reusing the outputs of electrons whose code and inputs are unchanged" }, "Redispatch (reuse results)");
  const compareBtn = h("button", { id: "compare-with", onclick: () => pickComparison(), title: "Compare with another run of this lattice" }, "Compare…");
  const redispatchOf = /^[A-Za-z0-9_.:-]{1,128}$/.test(query.get("from") || "") ? query.get("from") : null;
  const origin = h("div", { class: "origin", hidden: !redispatchOf });
  if (redispatchOf) {
    origin.append("Redispatch of ", dispatchLink(redispatchOf, redispatchOf.slice(0, 8)), " · ",
      h("a", { href: `#/compare/${redispatchOf}/${dispatchId}`, id: "compare-origin" }, "compare with it →"));
  }
  const graphBox = h("div", { class: "graph", id: "graph" });
  const graphStatus = h("div", { class: "graph-status" }, "Loading graph…");
  const findBox = h("input", { type: "search", placeholder: "Find node (name or id)", "aria-label": "Find node" });
  const paramToggle = h("input", { type: "checkbox", checked: true });
  const graphInfo = h("span", { class: "muted", id: "graph-info" });
  const collapseBtn = h("button", { id: "collapse-groups", hidden: true, onclick: () => { expanded.clear(); loadGraph(); }, title: "Draw expanded groups as groups again" }, "Collapse groups");
  const graphModeBtn = h("button", { onclick: () => setMode("graph"), dataset: { mode: "graph" } }, "Graph");
  const timelineModeBtn = h("button", { onclick: () => setMode("timeline"), dataset: { mode: "timeline" } }, "Timeline");
  const timelineBox = h("div", { class: "timeline", id: "timeline", hidden: true });
  const glueToggle = h("input", { type: "checkbox" });
  const graphGlueToggle = h("input", { type: "checkbox", id: "graph-glue", checked: true });
  const layoutDirection = ["TB", "LR"].includes(query.get("dir")) ? query.get("dir") : "auto";
  const directionChoice = h("select", { id: "graph-direction", "aria-label": "Layout direction", title: "Layout direction" },
    [["auto", "auto layout"], ["TB", "top-down"], ["LR", "left-right"]].map(([v, t]) => h("option", { value: v, selected: v === layoutDirection }, t)));
  const minimapToggle = h("input", { type: "checkbox", id: "minimap-toggle", checked: true });
  const minimapCanvas = h("canvas", { class: "minimap", id: "minimap", title: "Click or drag to move the view" });
  const pngBtn = h("button", { id: "export-png", onclick: () => exportPng(), title: "Download the whole graph as a PNG image" }, "PNG");
  const subChoice = h("select", { id: "sublattices", "aria-label": "Sublattices", title: "Open a sublattice's own graph", hidden: true });
  const breadcrumb = h("nav", { class: "breadcrumb", id: "breadcrumb", "aria-label": "Parent dispatches", hidden: true });
  let minimap = null;
  const timelineInfo = h("span", { class: "muted" });
  const graphTools = h("span", { class: "tool-group" });
  const timelineTools = h("span", { class: "tool-group", hidden: true },
    h("button", { onclick: () => timeline && timeline.zoom(2), title: "Zoom in (or the mouse wheel over the chart)" }, "+"),
    h("button", { onclick: () => timeline && timeline.zoom(0.5), title: "Zoom out" }, "−"),
    h("button", { onclick: () => timeline && timeline.reset(), title: "The whole run" }, "Whole run"),
    h("label", { title: "Collections, getitem, attributes and operators" }, glueToggle, " glue nodes"),
    h("span", { class: "legend" }, ["RUNNING", "COMPLETED", "FAILED", "CANCELLED"].map((st) => badge(st))),
    h("span", { style: { flex: 1 } }), timelineInfo);
  const tabOverview = h("button", { onclick: () => showTab("overview") }, "Overview");
  const tabElectron = h("button", { onclick: () => showTab("electron") }, "Electron");
  const panel = h("div", { class: "panel", id: "side-panel" });

  fill(root, h("div", { class: "dispatch" },
    h("div", { class: "dispatch-head" },
      h("div", { class: "actions" }, cancelBtn, redoBtn, reuseBtn, compareBtn),
      h("a", { href: "#/" }, "← Dispatches"), breadcrumb, " ", title, statusSlot, " ", idSlot, meta, origin),
    h("div", { class: "dispatch-body" },
      h("div", { class: "graph-wrap" },
        h("div", { class: "graph-tools" },
          h("span", { class: "mode-switch", role: "group", "aria-label": "View" }, graphModeBtn, timelineModeBtn),
          graphTools, timelineTools),
        graphBox, minimapCanvas, timelineBox, graphStatus),
      h("div", { class: "side" }, h("div", { class: "tabs" }, tabOverview, tabElectron), panel))));

  graphTools.append(findBox,
    h("label", {}, paramToggle, " parameters"),
    h("label", { title: "Collections, getitem, attributes and operators: hidden, their inputs are linked straight to their users" }, graphGlueToggle, " glue nodes"),
    directionChoice,
    h("button", { onclick: () => graph && graph.fit() }, "Fit"),
    h("label", {}, minimapToggle, " minimap"),
    pngBtn, subChoice,
    collapseBtn,
    h("span", { class: "legend" }, ["RUNNING", "COMPLETED", "FAILED", "CANCELLED", "NEW_OBJECT"].map((st) => badge(st))),
    h("span", { style: { flex: 1 } }), graphInfo);

  // -- graph or timeline ----------------------------------------------------------------

  function setMode(which) {
    mode = which;
    graphModeBtn.classList.toggle("active", which === "graph");
    timelineModeBtn.classList.toggle("active", which === "timeline");
    graphBox.hidden = which !== "graph";
    minimapCanvas.hidden = which !== "graph" || !minimapToggle.checked;
    graphTools.hidden = which !== "graph";
    timelineBox.hidden = which !== "timeline";
    timelineTools.hidden = which !== "timeline";
    setQuery("view", which === "timeline" ? "timeline" : null);
    if (which === "timeline") loadTimeline();
    else if (graph) { graph.cy.resize(); graph.fit(); }
  }

  /** Keep a view setting in the page's address (replaced, not a new history entry). */
  function setQuery(key, value) {
    const q = new URLSearchParams(location.hash.split("?")[1] || "");
    if (value === null) q.delete(key); else q.set(key, value);
    const target = `#/dispatches/${dispatchId}${q.toString() ? `?${q}` : ""}`;
    if (location.hash !== target) history.replaceState(null, "", target);
  }

  // -- graph toolbar: export, sublattices, the way back up ----------------------------

  async function exportPng() {
    if (!graph) return;
    pngBtn.disabled = true;
    try {
      const blob = await graph.png();
      const link = h("a", { href: URL.createObjectURL(blob), download: `${(detail ? detail.name : "graph").replace(/[^A-Za-z0-9_.-]+/g, "_")}-${dispatchId.slice(0, 8)}.png` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (err) {
      toast(`Exporting the graph failed: ${err.message}`, true);
    } finally {
      pngBtn.disabled = false;
    }
  }

  function renderSublattices() {
    const children = detail.children || [];
    subChoice.hidden = !children.length;
    const keep = subChoice.value;
    fill(subChoice,
      h("option", { value: "" }, `Sublattices (${children.length})…`),
      children.map((c) => h("option", { value: c.dispatch_id, selected: c.dispatch_id === keep && keep !== "" ? true : undefined, dataset: { status: c.status } },
        `${c.name} · node ${c.parent_node_id} · ${c.status.toLowerCase().replaceAll("_", " ")}`)));
    subChoice.value = "";
  }

  let trailShown = null;
  /** root › … › parent links above a sublattice's own graph (read once per page). */
  async function renderTrail() {
    if (!detail.parent_dispatch_id || trailShown === detail.parent_dispatch_id) return;
    trailShown = detail.parent_dispatch_id;
    const trail = [];
    let at = detail.parent_dispatch_id;
    for (let depth = 0; at && depth < 20; depth++) {
      let d;
      try {
        d = await apiGet(`/dispatches/${at}`);
      } catch {
        trail.unshift({ dispatch_id: at, name: at.slice(0, 8) });
        break;
      }
      trail.unshift(d);
      at = d.parent_dispatch_id;
    }
    if (disposed) return;
    fill(breadcrumb, trail.map((d) => [h("a", { href: `#/dispatches/${d.dispatch_id}`, dataset: { dispatchId: d.dispatch_id } }, d.name), " › "]));
    breadcrumb.hidden = false;
  }

  let timelineGeneration = 0;
  async function loadTimeline() {
    const mine = ++timelineGeneration;
    let fresh;
    try {
      fresh = await apiGet(`/dispatches/${dispatchId}/timeline`);
    } catch (err) {
      toast(`Loading the timeline failed: ${err.message}`, true);
      return;
    }
    if (disposed || mine !== timelineGeneration) return;
    timelineData = fresh;
    if (timeline) timeline.update(fresh);
    else timeline = drawTimeline(timelineBox, fresh, { onSelect: (nodeId) => select(nodeId), glue: glueToggle.checked });
    timelineInfo.textContent = `${timeline.count()} bars · wheel to zoom, drag to pan, click a bar for its details`;
    timelineBox.dataset.ready = "true";
  }
  const refreshTimeline = throttle(() => { if (mode === "timeline") loadTimeline(); }, 1000);
  glueToggle.addEventListener("change", () => timeline && timeline.setGlue(glueToggle.checked));

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
        ["Remote host", e.remote_host ? h("span", { class: "mono", id: "electron-remote-host" }, e.remote_host) : undefined],
        ["Job handle", e.job_handle ? h("span", { class: "mono", id: "electron-job-handle", title: e.job_handle }, e.job_handle) : undefined],
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
        badge(a.status), ` ${formatTime(a.start_time)} – ${formatTime(a.end_time)}`, a.error ? textBlock(a.error, { error: true }) : null)))] : null,
      e.executor_settings ? [h("h3", {}, "Executor settings"), executorSettings(e.executor_settings)] : null,
      e.kind === "electron" || e.kind === "sublattice"
        ? [h("h3", {}, "Source"), h("div", { id: "electron-source" }, textBlock(e.source, { empty: "source not available" }))] : null);
  }

  // the executor an electron ran on: its class and settings, as text (secrets come redacted)
  function executorSettings(x) {
    const rows = Object.entries(x.settings);
    return h("div", { id: "electron-executor-settings" },
      h("p", { class: "mono" }, x.type),
      rows.length
        ? h("table", { class: "inputs" }, rows.map(([k, v]) => h("tr", {},
          h("td", {}, k), h("td", { class: "mono" }, typeof v === "string" ? v : JSON.stringify(v)))))
        : h("pre", { class: "empty" }, "no settings"));
  }

  // -- a group of a large graph --------------------------------------------------------

  function renderGroup(gid, statusFilter = "") {
    const g = graph && graph.group(gid);
    if (!g) {
      fill(panel, h("p", { class: "muted" }, "This group is no longer drawn."));
      return;
    }
    const filter = h("select", { id: "group-filter", "aria-label": "Members in status" },
      h("option", { value: "" }, `all ${g.size}`),
      Object.entries(g.counts).map(([st, n]) => h("option", { value: st, selected: st === statusFilter }, `${st.toLowerCase().replaceAll("_", " ")} (${n})`)));
    filter.addEventListener("change", () => renderGroup(gid, filter.value));
    const listed = [];
    for (let i = 0; i < g.members.length && listed.length < MEMBERS_LISTED; i++) {
      if (statusFilter && g.statuses[i] !== statusFilter) continue;
      const nid = g.members[i];
      listed.push(h("li", {}, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); select(nid); } }, `${g.name} · node ${nid}`), " ", badge(g.statuses[i])));
    }
    const matching = statusFilter ? g.counts[statusFilter] || 0 : g.size;
    // redraw only what changed: a panel rebuilt on every refresh loses clicks meant for it
    const key = JSON.stringify([gid, statusFilter, g.size, g.counts, g.statuses.slice(0, g.members.length), graphData.total_nodes]);
    if (panel.dataset.groupKey === key && panel.querySelector("#group-name")) return;
    panel.dataset.groupKey = key;
    fill(panel,
      h("h2", { id: "group-name" }, `${g.name} ×${g.size}`),
      h("p", { class: "muted" }, `${g.size} ${g.kind === "parameter" ? "parameters" : `calls of ${g.name}`} drawn as one node: this graph has ${graphData.total_nodes} nodes.`),
      h("div", { class: "group-counts", id: "group-counts" }, Object.entries(g.counts).map(([st, n]) => h("span", { dataset: { status: st } }, badge(st), ` ${n} `))),
      h("p", {}, g.size <= EXPAND_UP_TO
        ? h("button", { id: "expand-group", onclick: () => { expanded.add(gid); selectedGroup = null; loadGraph(); } }, `Expand into ${g.size} nodes`)
        : h("span", { class: "muted" }, `Too many to draw one by one (over ${EXPAND_UP_TO}); pick a member below.`)),
      h("h3", {}, "Members"), filter,
      h("ol", { class: "members", id: "group-members" }, listed),
      matching > listed.length ? h("p", { class: "muted" }, `first ${listed.length} of ${matching} shown; find one by node id in the search box`) : null);
  }

  function selectGroup(gid) {
    selected = null;
    selectedGroup = gid;
    if (graph) graph.select(gid);
    tab = "electron";
    tabOverview.classList.remove("active");
    tabElectron.classList.add("active");
    renderGroup(gid);
  }

  function showTab(which) {
    tab = which;
    tabOverview.classList.toggle("active", which === "overview");
    tabElectron.classList.toggle("active", which === "electron");
    if (which === "overview") {
      if (detail) renderOverview();
    } else if (selectedGroup !== null) {
      renderGroup(selectedGroup);
    } else if (selected !== null) {
      loadElectron(selected);
    } else {
      fill(panel, h("p", { class: "muted" }, "Click a node of the graph to see its inputs, output, logs and timings."));
    }
  }

  function select(nodeId, center = false) {
    selected = nodeId;
    selectedGroup = null;
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
    performance.mark("covalent-ray:detail-read");
    renderHead();
    renderSublattices();
    renderTrail();
    if (tab === "overview") renderOverview();
    return true;
  }

  // changes that come while the graph is read and drawn are applied to the new drawing
  const loadGraph = () => gathering(drawNewGraph);

  async function drawNewGraph(during) {
    graphData = await apiGet(`/dispatches/${dispatchId}/graph`, graphParams());
    if (disposed) return;
    performance.mark("covalent-ray:graph-read");
    collapseBtn.hidden = expanded.size === 0;
    if (minimap) minimap.destroy();
    if (graph) graph.destroy();
    graph = null; // changes meanwhile are gathered in `during`
    graphStatus.textContent = `Laying out ${graphData.nodes.length} nodes…`;
    graphStatus.hidden = false;
    await new Promise((r) => setTimeout(r, 0)); // let the message paint before the layout runs
    graph = await drawGraph(graphBox, graphData, {
      showParameters,
      showGlue: graphGlueToggle.checked,
      layoutDirection: directionChoice.value,
      onSelect: (nodeId) => select(nodeId),
      onSelectGroup: (gid) => selectGroup(gid),
      onOpenChild: (sub) => { location.hash = `#/dispatches/${sub}`; },
    });
    if (during.length) graph.setStatus(during);
    graphStatus.hidden = true;
    minimap = attachMinimap(graph.cy, minimapCanvas);
    graphBox.dataset.rankDir = graph.stats.rankDir;
    const s = graph.stats;
    const groups = (graphData.groups || []).length;
    graphInfo.textContent = graphData.grouped
      ? `${graphData.total_nodes} nodes shown as ${s.nodes} (${groups} groups of repeated electrons), ${s.edges} edges · drawn in ${(s.totalMs / 1000).toFixed(2)} s`
      : `${s.nodes} nodes, ${s.edges} edges · drawn in ${(s.totalMs / 1000).toFixed(2)} s`;
    graphBox.dataset.ready = "true";
    performance.mark("covalent-ray:graph-drawn");
    graphBox.dataset.grouped = graphData.grouped ? "true" : "false";
    window.covalentRay = { cy: graph.cy, graphStats: s, select, graph, minimap };
    if (selected !== null) graph.select(selected);
    else if (query.get("node") !== null && /^\d+$/.test(query.get("node"))) select(Number(query.get("node")), true);
  }

  const refreshDetail = throttle(loadDetail, 1000);
  const refreshGroup = throttle(() => {
    if (selectedGroup !== null && tab === "electron") {
      const f = panel.querySelector("#group-filter");
      renderGroup(selectedGroup, f ? f.value : "");
    }
  }, 500);
  const refreshSelected = throttle(() => { if (selected !== null && tab === "electron") loadElectron(selected); }, 500);

  function graphParams() {
    return { group: "auto", threshold: groupAbove, expand: [...expanded] };
  }

  // changes that arrive while a resync reads the graph: the answer may be older than
  // they are, so they are applied again on top of it (in the order they came)
  const replays = new Set();

  /** Run `read(during)` while `during` gathers the changes that come meanwhile. */
  async function gathering(read) {
    const during = [];
    replays.add(during);
    try {
      return await read(during);
    } finally {
      replays.delete(during);
    }
  }

  async function resync() {
    await gathering(async (during) => {
      const fresh = await apiGet(`/dispatches/${dispatchId}/graph`, graphParams());
      if (graph && !disposed) {
        graph.refresh(fresh);
        if (during.length) graph.setStatus(during);
      }
    });
    refreshGroup();
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
      location.hash = `#/dispatches/${created.dispatch_id}?from=${dispatchId}`;
    } catch (err) {
      toast(`Redispatch failed: ${err.message}`, true);
    }
  }

  /** Offer the other runs of this lattice (same name) to compare with, the one before this first. */
  async function pickComparison() {
    let page;
    try {
      page = await apiGet("/dispatches", { name: detail ? detail.name : "", limit: 100 });
    } catch (err) {
      toast(`Listing runs failed: ${err.message}`, true);
      return;
    }
    const others = page.items.filter((d) => d.dispatch_id !== dispatchId && detail && d.name === detail.name);
    if (!others.length) {
      toast(`No other run of ${detail ? detail.name : "this lattice"} is stored to compare with.`);
      return;
    }
    const mine = detail ? detail.created_at : "";
    const earlier = others.find((d) => d.created_at < mine);
    const preferred = redispatchOf && others.some((d) => d.dispatch_id === redispatchOf) ? redispatchOf
      : (earlier || others[0]).dispatch_id;
    const choice = h("select", { id: "compare-choice", "aria-label": "Dispatch to compare with" },
      others.map((d) => h("option", { value: d.dispatch_id, selected: d.dispatch_id === preferred },
        `${d.dispatch_id.slice(0, 8)} · ${d.status} · ${formatTime(d.created_at)}`)));
    const dialog = h("dialog", { class: "confirm", id: "compare-dialog" },
      h("form", { method: "dialog" },
        h("h2", {}, "Compare with"), h("p", {}, `Another run of ${detail.name}; it becomes the baseline.`), choice,
        h("menu", {}, h("button", { value: "cancel" }, "Cancel"), h("button", { value: "go", class: "primary", id: "compare-go" }, "Compare"))));
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      const go = dialog.returnValue === "go";
      dialog.remove();
      if (go) location.hash = `#/compare/${choice.value}/${dispatchId}`;
    }, { once: true });
    dialog.showModal();
  }

  findBox.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !graph) return;
    const hit = graph.find(findBox.value);
    if (hit === null) toast(`No node matches "${findBox.value}".`);
    else select(hit, true);
  });
  graphGlueToggle.addEventListener("change", () => loadGraph());
  directionChoice.addEventListener("change", () => {
    setQuery("dir", directionChoice.value === "auto" ? null : directionChoice.value);
    if (graph) graphBox.dataset.rankDir = graph.relayout(directionChoice.value);
  });
  minimapToggle.addEventListener("change", () => {
    minimapCanvas.hidden = !minimapToggle.checked || mode !== "graph";
    if (minimap) minimap.redraw();
  });
  subChoice.addEventListener("change", () => {
    if (subChoice.value) location.hash = `#/dispatches/${subChoice.value}`;
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
    // bars of what still runs grow with the clock
    if (mode === "timeline" && timeline && timelineData && timeline.running()) timeline.update(timelineData);
  }, 1000);

  (async () => {
    showTab("overview");
    setMode(mode);
    // subscribe first and read once the stream stands, so that no change falls between
    // the reads below and the stream
    let readBeforeStream = false; // the stream stood after the page was read
    let readEarly = false;
    let standing = false;
    let streamReady;
    const ready = new Promise((resolve) => { streamReady = resolve; });
    stop = subscribe({ dispatch_id: dispatchId }, (event, data) => {
      if (event === "ready") {
        performance.mark("covalent-ray:stream-ready"); // stages of a page's load, for benchmarks
        standing = true;
        streamReady();
        // a stream that stood only after the page was read (a busy machine) may have
        // missed changes in between: read again
        if (readEarly && graph) resync();
        else if (readEarly) readBeforeStream = true; // the graph's read: once drawn
        readEarly = false;
        return;
      }
      if (event === "resync") {
        resync();
        refreshTimeline();
        return;
      }
      if (event !== "changes") return;
      const electrons = data.changes.filter((c) => c.type === "electron");
      for (const during of replays) during.push(...electrons);
      if (graph) graph.setStatus(electrons); // while none is drawn, `replays` keep them
      if (selectedGroup !== null && graph && electrons.some((c) => (graph.groupOf(c.node_id) || {}).id === selectedGroup)) refreshGroup();
      if (selected !== null && electrons.some((c) => c.node_id === selected)) refreshSelected();
      refreshDetail();
      refreshTimeline();
      // once the dispatch has ended, what the database holds is final: show exactly that
      if (data.changes.some((c) => c.type === "dispatch" && c.dispatch_id === dispatchId && TERMINAL.has(c.status))) resync();
    });
    await Promise.race([ready, new Promise((r) => setTimeout(() => { readEarly = !standing; r(); }, 3000))]);
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
      // changes while it was read and drawn were replayed on it; what came before the
      // stream stood was not seen at all: read again
      if (readBeforeStream) resync();
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
    if (minimap) minimap.destroy();
    if (graph) graph.destroy();
    if (timeline) timeline.destroy();
    delete window.covalentRay;
  };
}
