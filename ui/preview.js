// A lattice's graph before it is dispatched (#/preview/<id>): what `lattice.draw()` sent
// to the service (POST /api/v1/previews), drawn like a dispatch's graph. Nothing has run,
// so there are no outputs, logs or times: a click on a node shows its kind, executor,
// inputs and, for a parameter, its value.

import { ApiError, apiGet } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { drawGraph } from "./graph.js";
import { attachMinimap } from "./minimap.js";

/** Above this many nodes, parameter nodes start hidden (as on a dispatch's page). */
const PARAMETERS_SHOWN_UP_TO = 400;

/** The preview's {nodes, edges} in the shape the dispatch graph has (graph.js draws it). */
export function asGraph(preview) {
  return {
    nodes: preview.graph.nodes.map((n) => ({
      id: n.id, name: n.name, kind: n.kind, status: n.status || "NEW_OBJECT", executor: n.executor, sub_dispatch_id: null,
    })),
    edges: preview.graph.edges.map((e) => ({
      source: e.source, target: e.target, kind: e.kind, param_name: e.name ?? null, count: 1,
    })),
  };
}

function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null) continue;
    dl.append(h("dt", {}, k), h("dd", {}, v));
  }
  return dl;
}

export function previewView(root, previewId) {
  let preview = null;
  let graph = null;
  let minimap = null;
  let disposed = false;
  let showParameters = true;
  const byId = new Map();

  const title = h("h1", {}, "Preview");
  const note = h("div", { class: "meta" });
  const graphBox = h("div", { class: "graph", id: "graph" });
  const graphStatus = h("div", { class: "graph-status" }, "Loading the preview…");
  const minimapCanvas = h("canvas", { class: "minimap", id: "minimap", title: "Click or drag to move the view" });
  const paramToggle = h("input", { type: "checkbox", checked: true, id: "preview-parameters" });
  const glueToggle = h("input", { type: "checkbox", checked: true, id: "graph-glue" });
  const directionChoice = h("select", { id: "graph-direction", "aria-label": "Layout direction" },
    [["auto", "auto layout"], ["TB", "top-down"], ["LR", "left-right"]].map(([v, t]) => h("option", { value: v }, t)));
  const graphInfo = h("span", { class: "muted", id: "graph-info" });
  const panel = h("div", { class: "panel", id: "side-panel" },
    h("p", { class: "muted" }, "Click a node for its kind, executor and inputs."));

  fill(root, h("div", { class: "dispatch preview" },
    h("div", { class: "dispatch-head" }, h("a", { href: "#/" }, "← Dispatches"), " ", title, note),
    h("div", { class: "dispatch-body" },
      h("div", { class: "graph-wrap" },
        h("div", { class: "graph-tools" },
          h("label", {}, paramToggle, " parameters"),
          h("label", { title: "Collections, getitem, attributes and operators" }, glueToggle, " glue nodes"),
          directionChoice,
          h("button", { onclick: () => graph && graph.fit() }, "Fit"),
          h("button", { id: "export-png", onclick: () => exportPng() }, "PNG"),
          h("span", { style: { flex: 1 } }), graphInfo),
        graphBox, minimapCanvas, graphStatus),
      h("div", { class: "side" }, panel))));

  function showNode(id) {
    const n = byId.get(id);
    if (!n) return;
    const inputs = preview.graph.edges.filter((e) => e.target === id);
    fill(panel,
      h("h2", { id: "preview-node-name" }, n.kind === "parameter" ? n.name.replace(/^:parameter:/, "") : n.name),
      facts([["Node", String(n.id)], ["Kind", n.kind], ["Executor", n.executor]]),
      n.kind === "parameter" ? [h("h3", {}, "Value"), h("pre", { id: "preview-node-value" }, n.value ?? "—")] : null,
      h("h3", {}, "Inputs"),
      inputs.length
        ? h("table", { class: "inputs" }, inputs.map((e) => h("tr", {},
          h("td", {}, e.name ?? (e.index !== null && e.index !== undefined ? `arg ${e.index}` : e.kind)),
          h("td", {}, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); select(e.source); } },
            (byId.get(e.source) || { name: `node ${e.source}` }).name)))))
        : h("pre", { class: "empty" }, "no inputs"));
  }

  function select(id) {
    if (graph) graph.select(id, true);
    showNode(id);
  }

  async function draw() {
    if (minimap) minimap.destroy();
    if (graph) graph.destroy();
    graph = null;
    graphStatus.hidden = false;
    graphStatus.textContent = `Laying out ${preview.graph.nodes.length} nodes…`;
    await new Promise((r) => setTimeout(r, 0)); // let the message paint before the layout
    if (disposed) return;
    graph = await drawGraph(graphBox, asGraph(preview), {
      showParameters,
      showGlue: glueToggle.checked,
      layoutDirection: directionChoice.value,
      onSelect: (id) => showNode(id),
      onSelectGroup: () => {},
      onOpenChild: () => {},
    });
    graphStatus.hidden = true;
    minimap = attachMinimap(graph.cy, minimapCanvas);
    graphInfo.textContent = `${graph.stats.nodes} nodes, ${graph.stats.edges} edges`;
    graphBox.dataset.ready = "true";
    window.covalentRay = { cy: graph.cy, graphStats: graph.stats, graph, minimap };
  }

  async function exportPng() {
    if (!graph) return;
    try {
      const blob = await graph.png();
      const link = h("a", { href: URL.createObjectURL(blob), download: `${(preview.name || "lattice").replace(/[^A-Za-z0-9_.-]+/g, "_")}-preview.png` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (err) {
      toast(`Exporting the graph failed: ${err.message}`, true);
    }
  }

  paramToggle.addEventListener("change", () => { showParameters = paramToggle.checked; if (preview) draw(); });
  glueToggle.addEventListener("change", () => preview && draw());
  directionChoice.addEventListener("change", () => { if (graph) graph.relayout(directionChoice.value); });

  (async () => {
    try {
      preview = await apiGet(`/previews/${previewId}`);
    } catch (err) {
      if (disposed) return;
      const gone = err instanceof ApiError && err.status === 404;
      graphStatus.textContent = gone
        ? "This preview is no longer kept by the service (previews live in its memory). Run lattice.draw() again."
        : `Loading the preview failed: ${err.message}`;
      graphStatus.id = "preview-missing";
      return;
    }
    if (disposed) return;
    document.title = `covalent-ray · preview of ${preview.name}`;
    title.textContent = `Preview · ${preview.name}`;
    fill(note, h("span", {}, "Built by lattice.draw(), not dispatched: nothing has run yet. Created ",
      h("b", {}, new Date(preview.created_at * 1000).toLocaleString()), "."));
    for (const n of preview.graph.nodes) byId.set(n.id, n);
    if (preview.graph.nodes.length > PARAMETERS_SHOWN_UP_TO) {
      showParameters = false;
      paramToggle.checked = false;
    }
    await draw();
  })();

  return () => {
    disposed = true;
    if (minimap) minimap.destroy();
    if (graph) graph.destroy();
    delete window.covalentRay;
  };
}
