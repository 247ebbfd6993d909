// The transport graph, drawn by Cytoscape.js with the dagre layered layout (both
// vendored under ui/vendor). Nodes take their status colour from a `status` data field,
// so a live change is one `node.data("status", s)` and Cytoscape repaints only that.
//
// Large graphs: above LARGE elements the drawing switches to what keeps a thousand-node
// graph fluid — straight edges without labels, the cached texture while panning and
// zooming, labels hidden when too small to read, and dagre's fastest ranker. Graphs of
// thousands of nodes come from the server grouped (repeated electrons of one function as
// one group node with its status counts, see groups.js); a click on a group lists its
// members, and expanding it asks the server for the graph with those members drawn.

import { STATUS_COLORS } from "./status.js";
import { GroupIndex, groupLabel, groupStatus } from "./groups.js";

const LARGE = 600;

function label(node) {
  if (node.kind === "parameter") return node.name.replace(/^:parameter:/, "");
  return node.name;
}

function width(text) {
  return Math.max(36, Math.min(180, text.length * 6.6 + 18));
}

function styles(large) {
  const sheet = [
    {
      selector: "node",
      style: {
        shape: "round-rectangle", width: "data(w)", height: 28, label: "data(label)",
        "background-color": STATUS_COLORS.NEW_OBJECT, color: "#fff", "font-size": 11,
        "text-valign": "center", "text-halign": "center", "text-wrap": "ellipsis",
        "text-max-width": "data(tw)", "min-zoomed-font-size": 7,
      },
    },
    ...Object.entries(STATUS_COLORS).map(([status, color]) => ({
      selector: `node[status = "${status}"]`, style: { "background-color": color },
    })),
    {
      selector: 'node[kind = "parameter"]',
      style: {
        shape: "round-rectangle", height: 18, "background-color": "#f1f3f5", color: "#495057",
        "font-size": 9, "border-width": 1, "border-color": "#ced4da",
      },
    },
    {
      selector: 'node[kind = "sublattice"]',
      style: { shape: "barrel", height: 34, "border-width": 3, "border-color": "#1d2330" },
    },
    {
      selector: 'node[kind ^= "electron_"], node[kind = "getitem"], node[kind = "getattr"], node[kind = "operator"]',
      style: { shape: "hexagon", height: 22, "font-size": 9 },
    },
    {
      selector: "edge",
      style: {
        width: 1.2, "line-color": "#adb5bd", "target-arrow-color": "#adb5bd",
        "target-arrow-shape": "triangle", "arrow-scale": 0.8,
        "curve-style": large ? "straight" : "bezier",
      },
    },
    {
      selector: 'node[kind = "group"]',
      style: {
        shape: "round-rectangle", height: 40, "text-wrap": "wrap", "font-size": 10,
        "border-width": 3, "border-style": "double", "border-color": "#1d2330",
      },
    },
    { selector: "edge[count > 1]", style: { width: "mapData(count, 1, 1000, 1.5, 7)" } },
    { selector: 'edge[kind = "wait"]', style: { "line-style": "dashed" } },
    { selector: 'edge[kind = "bridge"]', style: { "line-style": "dotted", "line-color": "#868e96", "target-arrow-color": "#868e96" } },
    {
      selector: "node:selected",
      style: { "border-width": 3, "border-color": "#1d2330", "underlay-color": "#3b5bdb",
        "underlay-opacity": 0.25, "underlay-padding": 6 },
    },
    { selector: "node.match", style: { "border-width": 3, "border-color": "#fab005" } },
  ];
  if (!large) {
    sheet.push({
      selector: "edge[label]",
      style: {
        label: "data(label)", "font-size": 9, color: "#868e96", "text-background-color": "#fff",
        "text-background-opacity": 0.85, "text-background-padding": 1, "min-zoomed-font-size": 8,
      },
    });
  }
  return sheet;
}

function groupData(g) {
  const label = groupLabel(g);
  const w = width(label.split("\n").reduce((a, b) => (a.length > b.length ? a : b)));
  return { label, status: groupStatus(g.counts), w, tw: w - 8, size: g.size };
}

/** Covalent's glue nodes: collections built from electrons, getitem, attributes, operators. */
export const GLUE_KINDS = new Set([
  "electron_list", "electron_tuple", "electron_set", "electron_dict", "getitem", "getattr", "operator",
]);

/**
 * Cytoscape's elements of `graph`. Hidden parameters drop out with their edges; hidden
 * glue nodes are bridged: an electron fed through a chain of glue nodes gets one dotted
 * edge from each electron that fed the chain, so the dependencies stay visible.
 */
export function elements(graph, { showParameters = true, showGlue = true } = {}) {
  const dropped = new Set();
  const glue = new Set();
  const els = [];
  const hide = (kind) => {
    if (!showParameters && kind === "parameter") return "drop";
    if (!showGlue && GLUE_KINDS.has(kind)) return "glue";
    return null;
  };
  for (const g of graph.groups || []) {
    const why = hide(g.kind);
    if (why) {
      (why === "glue" ? glue : dropped).add(g.id);
      continue;
    }
    els.push({
      group: "nodes",
      data: { id: `n${g.id}`, nid: g.id, kind: "group", member_kind: g.kind, ...groupData(g) },
    });
  }
  for (const n of graph.nodes) {
    const why = hide(n.kind);
    if (why) {
      (why === "glue" ? glue : dropped).add(n.id);
      continue;
    }
    const text = label(n);
    const w = width(text);
    els.push({
      group: "nodes",
      data: { id: `n${n.id}`, nid: n.id, label: text, kind: n.kind, status: n.status, w, tw: w - 8, sub: n.sub_dispatch_id },
    });
  }
  const into = new Map();
  if (glue.size) {
    for (const e of graph.edges) {
      if (!glue.has(e.target)) continue;
      if (!into.has(e.target)) into.set(e.target, []);
      into.get(e.target).push(e.source);
    }
  }
  const fedBy = new Map();
  // the shown nodes feeding a hidden glue node, through any chain of glue nodes
  function feeders(id) {
    if (fedBy.has(id)) return fedBy.get(id);
    fedBy.set(id, new Set()); // a cycle cannot happen in a DAG; this only guards
    const out = new Set();
    for (const s of into.get(id) || []) {
      if (dropped.has(s)) continue;
      if (glue.has(s)) for (const f of feeders(s)) out.add(f);
      else out.add(s);
    }
    fedBy.set(id, out);
    return out;
  }
  const bridged = new Set();
  graph.edges.forEach((e, i) => {
    if (dropped.has(e.source) || dropped.has(e.target) || glue.has(e.target)) return;
    if (glue.has(e.source)) {
      for (const f of feeders(e.source)) {
        const key = `${f}>${e.target}`;
        if (bridged.has(key)) continue;
        bridged.add(key);
        els.push({ group: "edges", data: { id: `b${f}_${e.target}`, source: `n${f}`, target: `n${e.target}`, kind: "bridge", count: 1 } });
      }
      return;
    }
    const data = { id: `e${i}`, source: `n${e.source}`, target: `n${e.target}`, kind: e.kind, count: e.count || 1 };
    if (e.param_name) data.label = e.param_name;
    els.push({ group: "edges", data });
  });
  return els;
}

/**
 * "TB" (top to bottom) or "LR": whichever lets the whole graph show at a larger zoom in
 * the container (a graph much wider than deep becomes a thin strip either way, but less
 * so one way). Estimated from longest-path levels and the layout's spacings before any
 * layout runs; top to bottom unless left to right is clearly better.
 */
function direction(els, width, height, sep) {
  const level = new Map();
  const parents = new Map();
  let labelWidth = 0;
  for (const el of els) {
    if (el.group === "nodes") {
      level.set(el.data.id, 0);
      labelWidth += el.data.w;
    } else {
      if (!parents.has(el.data.target)) parents.set(el.data.target, []);
      parents.get(el.data.target).push(el.data.source);
    }
  }
  // node ids follow build order, which is topological: one pass in that order suffices
  const ids = [...level.keys()].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  for (const id of ids) {
    for (const p of parents.get(id) || []) level.set(id, Math.max(level.get(id), level.get(p) + 1));
  }
  const perLevel = new Map();
  for (const l of level.values()) perLevel.set(l, (perLevel.get(l) || 0) + 1);
  const depth = perLevel.size || 1;
  const breadth = Math.max(1, ...perLevel.values());
  const nodeW = labelWidth / Math.max(level.size, 1);
  const zoom = (w, h) => Math.min(1.5, width / w, height / h);
  const tb = zoom(breadth * (nodeW + sep.node), depth * (28 + sep.rank));
  const lr = zoom(depth * (nodeW + sep.rank), breadth * (28 + sep.node));
  return lr > 1.3 * tb ? "LR" : "TB";
}

function nextFrame() {
  return new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}

/**
 * Draw `graph` (the API's {nodes, edges}) into `container`. Resolves once drawn, with
 * {cy, stats, setStatus, refresh, find, relayout, png, destroy}; `onSelect(nodeId)` fires
 * on a click. `layoutDirection` is "TB", "LR" or "auto" (whichever fits the view better);
 * hidden glue nodes are bridged (see `elements`).
 */
export async function drawGraph(container, graph, {
  showParameters = true, showGlue = true, layoutDirection = "auto", onSelect, onSelectGroup, onOpenChild,
}) {
  const started = performance.now();
  let index = new GroupIndex(graph.groups || []);
  const els = elements(graph, { showParameters, showGlue });
  const large = els.length > LARGE;
  const cy = cytoscape({
    container, elements: els, style: styles(large), layout: { name: "preset" },
    minZoom: 0.02, maxZoom: 4, boxSelectionEnabled: false, autoungrabify: true,
    textureOnViewport: large, hideEdgesOnViewport: els.length > 4000, motionBlur: false,
    pixelRatio: large ? 1 : "auto",
  });
  const built = performance.now();
  const sep = { node: 14, rank: large ? 45 : 55 };
  const chosen = (dir) => (dir === "TB" || dir === "LR" ? dir
    : direction(els, Math.max(container.clientWidth, 1), Math.max(container.clientHeight, 1), sep));
  let rankDir = chosen(layoutDirection);
  function layout() {
    cy.layout({
      name: "dagre", rankDir, nodeSep: sep.node, rankSep: sep.rank, edgeSep: 8,
      ranker: large ? "longest-path" : "network-simplex", fit: true, padding: 24, animate: false,
    }).run();
    // a small graph fitted to the view would be drawn huge
    if (cy.zoom() > 1.5) {
      cy.zoom(1.5);
      cy.center();
    }
  }
  layout();
  const laidOut = performance.now();
  await nextFrame();
  const stats = {
    nodes: cy.nodes().length, edges: cy.edges().length, rankDir, buildMs: Math.round(built - started),
    layoutMs: Math.round(laidOut - built), totalMs: Math.round(performance.now() - started),
  };

  cy.on("tap", "node", (evt) => {
    const nid = evt.target.data("nid");
    if (evt.target.data("kind") === "group") onSelectGroup(nid);
    else onSelect(nid);
  });
  cy.on("dbltap", 'node[kind = "sublattice"]', (evt) => {
    const sub = evt.target.data("sub");
    if (sub) onOpenChild(sub);
  });

  return {
    cy,
    stats,
    grouped: Boolean(graph.grouped),
    /** The group state (counts, members, statuses) of a group node, or null. */
    group(id) { return index.group(id); },
    /** The group a node is a member of, or null (drawn as itself). */
    groupOf(nodeId) { return index.memberOf.get(nodeId) || null; },
    /** Apply status changes: [{node_id, status}, ...]. */
    setStatus(changes) {
      cy.batch(() => {
        const touched = new Set();
        for (const c of changes) {
          // a group's ID is its first member's: members are looked up first
          if (index.memberOf.has(c.node_id)) {
            const g = index.apply(c);
            if (g) touched.add(g);
            continue;
          }
          const node = cy.getElementById(`n${c.node_id}`);
          if (node.nonempty()) node.data("status", c.status);
        }
        for (const g of touched) cy.getElementById(`n${g.id}`).data(groupData(g));
      });
    },
    /** Re-read every node's state from a fresh graph answer (after a resync). */
    refresh(fresh) {
      index = new GroupIndex(fresh.groups || []);
      cy.batch(() => {
        for (const n of fresh.nodes) {
          const node = cy.getElementById(`n${n.id}`);
          if (node.nonempty()) node.data({ status: n.status, sub: n.sub_dispatch_id });
        }
        for (const g of fresh.groups || []) {
          const node = cy.getElementById(`n${g.id}`);
          if (node.nonempty()) node.data(groupData(g));
        }
      });
    },
    select(nodeId, center = false) {
      const g = index.memberOf.get(nodeId);
      const node = cy.getElementById(`n${g ? g.id : nodeId}`);
      if (node.empty()) return;
      cy.$(":selected").unselect();
      node.select();
      if (center) cy.animate({ center: { eles: node }, zoom: Math.max(cy.zoom(), 1) }, { duration: 200 });
    },
    /** Mark nodes whose name contains `text` (or whose id is it); returns the first id. */
    find(text) {
      cy.nodes(".match").removeClass("match");
      const q = text.trim().toLowerCase();
      if (!q) return null;
      const hits = cy.nodes().filter((n) => String(n.data("nid")) === q || n.data("label").toLowerCase().includes(q));
      // a node drawn inside a group is found through its group
      if (hits.empty() && /^\d+$/.test(q) && index.memberOf.has(Number(q))) {
        cy.getElementById(`n${index.memberOf.get(Number(q)).id}`).addClass("match");
        return Number(q);
      }
      hits.addClass("match");
      return hits.nonempty() ? hits[0].data("nid") : null;
    },
    fit() { cy.fit(undefined, 24); },
    /** Lay the graph out again "TB", "LR" or "auto"; answers the direction used. */
    relayout(dir) {
      rankDir = chosen(dir);
      stats.rankDir = rankDir;
      layout();
      return rankDir;
    },
    /** The whole graph as a PNG blob (white background), at most 8k pixels a side. */
    png() {
      const bb = cy.elements().boundingBox();
      const scale = Math.min(2, 8000 / Math.max(bb.w, 1), 8000 / Math.max(bb.h, 1));
      return cy.png({ output: "blob-promise", full: true, bg: "#ffffff", scale });
    },
    destroy() { cy.destroy(); },
  };
}
