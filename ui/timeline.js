// The timeline (Gantt chart) of a dispatch: one bar per attempt of each node, on the lane
// of the Ray node and worker process that ran it, coloured by how the attempt ended.
//
// Drawn as SVG: a dispatch's few thousand bars are a few thousand rects whose x and width
// are recomputed on zoom and pan (no re-layout). Lanes are packed: bars that overlap in
// time on one worker (an adaptor running several electrons at once) get rows of their own.
// Every label and tooltip is text (textContent), never markup.

import { formatDuration, h } from "./dom.js";
import { STATUS_COLORS } from "./status.js";

const SVG = "http://www.w3.org/2000/svg";
const LABEL_W = 190;
const ROW_H = 18;
const BAR_H = 14;
const AXIS_H = 26;
const LANE_GAP = 6;
const MIN_SPAN_S = 0.001;

const RUN_KINDS = new Set(["electron", "sublattice"]);

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Epoch seconds of an ISO time, to the microsecond (Date.parse keeps milliseconds). */
function seconds(iso) {
  if (!iso) return null;
  const frac = /\.(\d+)/.exec(iso);
  const whole = Date.parse(frac ? iso.replace(frac[0], "") : iso) / 1000;
  return frac ? whole + Number(`0.${frac[1]}`) : whole;
}

function laneKey(rayNode, pid) {
  return `${rayNode || ""}|${pid ?? ""}`;
}

function laneLabel(rayNode, pid) {
  if (!rayNode && pid == null) return "no worker recorded";
  return `node ${rayNode ? rayNode.slice(0, 8) : "?"} · pid ${pid ?? "?"}`;
}

/**
 * The bars of a timeline: each finished attempt of a node, or the node's own times while
 * its first attempt runs (attempts are recorded when they end). `now` (epoch seconds)
 * ends the bars of what still runs. Glue nodes (collections, getitem, operators) only
 * with `glue`.
 */
export function segments(timeline, now, glue = false) {
  const out = [];
  for (const n of timeline.nodes) {
    if (!glue && !RUN_KINDS.has(n.kind)) continue;
    if (n.attempts.length) {
      for (const a of n.attempts) {
        if (!a.start_time) continue;
        const start = seconds(a.start_time);
        out.push({
          node: n, attempt: a.attempt, status: a.status, error: a.error, start,
          end: a.end_time ? seconds(a.end_time) : start,
          rayNode: a.ray_node_id, pid: a.worker_pid,
        });
      }
      // a retry under way after the recorded ones (reported once it ends)
      const last = n.attempts[n.attempts.length - 1];
      if (n.status === "RUNNING" && n.attempt > last.attempt && last.end_time) {
        const start = seconds(last.end_time);
        out.push({ node: n, attempt: n.attempt, status: n.status, start, end: Math.max(start, now),
          running: true, rayNode: n.ray_node_id, pid: n.worker_pid });
      }
    } else if (n.start_time) {
      const start = seconds(n.start_time);
      const running = !n.end_time;
      out.push({
        node: n, attempt: Math.max(1, n.attempt), status: n.status, start, running,
        end: n.end_time ? seconds(n.end_time) : Math.max(start, now),
        rayNode: n.ray_node_id, pid: n.worker_pid,
      });
    }
  }
  return out;
}

/** Lanes (one per Ray node and worker), each with rows of bars that do not overlap. */
export function lanes(segs) {
  const byKey = new Map();
  for (const s of segs) {
    const key = laneKey(s.rayNode, s.pid);
    if (!byKey.has(key)) byKey.set(key, { key, rayNode: s.rayNode, pid: s.pid, segs: [] });
    byKey.get(key).segs.push(s);
  }
  const out = [...byKey.values()].sort((a, b) =>
    (a.rayNode || "~").localeCompare(b.rayNode || "~") || (a.pid ?? 1e12) - (b.pid ?? 1e12));
  for (const lane of out) {
    lane.segs.sort((a, b) => a.start - b.start || a.end - b.end);
    const rowEnds = [];
    for (const s of lane.segs) {
      let row = rowEnds.findIndex((end) => end <= s.start);
      if (row < 0) { row = rowEnds.length; rowEnds.push(0); }
      rowEnds[row] = Math.max(s.end, s.start + MIN_SPAN_S);
      s.row = row;
    }
    lane.rows = Math.max(1, rowEnds.length);
  }
  return out;
}

/** Round steps for the time axis: 1, 2, 5 × 10^k seconds. */
function tickStep(span, px) {
  const target = span / Math.max(1, px / 90);
  const pow = 10 ** Math.floor(Math.log10(target));
  for (const m of [1, 2, 5, 10]) if (m * pow >= target) return m * pow;
  return 10 * pow;
}

function tickLabel(t, step) {
  if (step < 1) return `${(t * 1000).toFixed(step < 0.01 ? 1 : 0)} ms`.replace(/^0 ms$/, "0");
  if (t < 60) return `${t.toFixed(step < 10 ? 0 : 0)} s`;
  return formatDuration(t);
}

/**
 * Draw `timeline` (the API's /timeline answer) into `box`. Returns
 * `{update(timeline), setGlue(bool), zoom(factor), reset(), destroy(), scale()}`.
 * Clicking a bar calls `onSelect(nodeId)`.
 */
export function drawTimeline(box, timeline, { onSelect = () => {}, glue = false } = {}) {
  let data = timeline;
  let showGlue = glue;
  let segs = [];
  let laneList = [];
  let t0 = 0;
  let t1 = 1;
  let v0 = 0;
  let v1 = 1;
  let bars = [];

  const scroller = h("div", { class: "timeline-scroll" });
  const tip = h("div", { class: "timeline-tip", hidden: true, role: "tooltip" });
  const chart = svg("svg", { class: "timeline-svg" });
  scroller.append(chart);
  box.append(scroller, tip);

  const width = () => Math.max(LABEL_W + 100, scroller.clientWidth);
  const plotW = () => width() - LABEL_W - 12;
  const x = (t) => LABEL_W + ((t - v0) / (v1 - v0)) * plotW();

  function bounds() {
    const now = Date.now() / 1000;
    segs = segments(data, now, showGlue);
    laneList = lanes(segs);
    const starts = segs.map((s) => s.start);
    const ends = segs.map((s) => s.end);
    t0 = seconds(data.start_time) ?? Math.min(...starts, now);
    t1 = Math.max(seconds(data.end_time) ?? now, ...ends, t0 + MIN_SPAN_S);
    if (starts.length) t0 = Math.min(t0, ...starts);
  }

  function build() {
    bounds();
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    bars = [];
    const axis = svg("g", { class: "timeline-axis" });
    const grid = svg("g", { class: "timeline-grid" });
    const body = svg("g");
    chart.append(grid, axis, body);
    let y = AXIS_H;
    laneList.forEach((lane, i) => {
      const laneH = lane.rows * ROW_H + LANE_GAP;
      body.append(svg("rect", { x: 0, y, width: "100%", height: laneH, class: i % 2 ? "lane odd" : "lane" }));
      const text = svg("text", { x: 8, y: y + ROW_H - 5, class: "lane-label" });
      text.textContent = laneLabel(lane.rayNode, lane.pid);
      const title = svg("title");
      title.textContent = `Ray node ${lane.rayNode || "?"}\nworker pid ${lane.pid ?? "?"}\n${lane.segs.length} attempts`;
      text.append(title);
      body.append(text);
      for (const s of lane.segs) {
        const rect = svg("rect", {
          y: y + LANE_GAP / 2 + s.row * ROW_H + (ROW_H - BAR_H) / 2, height: BAR_H, rx: 2,
          fill: STATUS_COLORS[s.status] || STATUS_COLORS.NEW_OBJECT,
          class: `tl-bar${s.running ? " running" : ""}`,
        });
        rect.dataset.nodeId = String(s.node.id);
        rect.dataset.attempt = String(s.attempt);
        rect.dataset.status = s.status;
        rect.dataset.name = s.node.name;
        rect.dataset.start = String(s.start);
        rect.dataset.end = String(s.end);
        rect.addEventListener("mousemove", (ev) => showTip(ev, s));
        rect.addEventListener("mouseleave", () => { tip.hidden = true; });
        rect.addEventListener("click", () => onSelect(s.node.id));
        body.append(rect);
        bars.push({ rect, s });
      }
      y += laneH;
    });
    if (!laneList.length) {
      const empty = svg("text", { x: LABEL_W, y: AXIS_H + 20, class: "lane-label" });
      empty.textContent = "Nothing has started running yet.";
      body.append(empty);
      y += 30;
    }
    chart.setAttribute("height", String(y + 4));
    chart.dataset.lanes = String(laneList.length);
    place(grid, axis, y);
  }

  let gridG = null;
  let axisG = null;
  let chartH = 0;
  function place(grid = gridG, axis = axisG, height = chartH) {
    gridG = grid; axisG = axis; chartH = height;
    const w = width();
    chart.setAttribute("width", String(w));
    const perS = plotW() / (v1 - v0);
    // what the tests (and anyone scripting the page) read the scale from
    chart.dataset.t0 = String(v0);
    chart.dataset.pxPerS = String(perS);
    chart.dataset.left = String(LABEL_W);
    for (const { rect, s } of bars) {
      const left = x(s.start);
      rect.setAttribute("x", String(left));
      rect.setAttribute("width", String(Math.max(2, (s.end - s.start) * perS)));
    }
    while (grid.firstChild) grid.removeChild(grid.firstChild);
    while (axis.firstChild) axis.removeChild(axis.firstChild);
    axis.append(svg("rect", { x: 0, y: 0, width: w, height: AXIS_H, class: "axis-bg" }));
    const step = tickStep(v1 - v0, plotW());
    const first = Math.ceil((v0 - t0) / step) * step;
    for (let t = first; t0 + t <= v1 + 1e-9; t += step) {
      const px = x(t0 + t);
      if (px < LABEL_W - 0.5) continue;
      grid.append(svg("line", { x1: px, x2: px, y1: AXIS_H, y2: height, class: "tick" }));
      const label = svg("text", { x: px + 3, y: AXIS_H - 9, class: "tick-label" });
      label.textContent = tickLabel(t, step);
      axis.append(label);
    }
    const caption = svg("text", { x: 8, y: AXIS_H - 9, class: "tick-label" });
    caption.textContent = "since the dispatch started";
    axis.append(caption);
  }

  function showTip(ev, s) {
    const n = s.node;
    const lines = [
      `${n.name} (node ${n.id})`,
      `${s.status}${n.attempt > 1 || s.attempt > 1 ? ` · attempt ${s.attempt} of ${n.attempt}` : ""}`,
      `${formatDuration(s.end - s.start)}${s.running ? " so far" : ""} · from +${formatDuration(s.start - t0)}`,
      `executor ${n.executor || "—"}`,
      `Ray node ${s.rayNode || "?"}`,
      `worker pid ${s.pid ?? "?"}`,
    ];
    if (s.error) lines.push(s.error.trim().split("\n").slice(-1)[0]);
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    const r = box.getBoundingClientRect();
    const left = Math.min(ev.clientX - r.left + 14, r.width - 320);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${ev.clientY - r.top + 14}px`;
  }

  function reset() {
    const pad = (t1 - t0) * 0.02;
    v0 = t0 - pad;
    v1 = t1 + pad;
    place();
  }

  /** Zoom by `factor` (> 1 zooms in) around time `at` (default: the middle). */
  function zoom(factor, at = (v0 + v1) / 2) {
    const span = Math.max(MIN_SPAN_S, (v1 - v0) / factor);
    const frac = (at - v0) / (v1 - v0);
    v0 = at - frac * span;
    v1 = v0 + span;
    place();
  }

  const timeAt = (clientX) => v0 + ((clientX - chart.getBoundingClientRect().left - LABEL_W) / plotW()) * (v1 - v0);

  chart.addEventListener("wheel", (ev) => {
    if (!ev.ctrlKey && !ev.altKey && Math.abs(ev.deltaX) < Math.abs(ev.deltaY) && !ev.shiftKey) {
      // plain wheel zooms around the pointer; the page scrolls with the scrollbar
      ev.preventDefault();
      zoom(ev.deltaY < 0 ? 1.25 : 0.8, timeAt(ev.clientX));
    }
  }, { passive: false });
  let drag = null;
  chart.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, v0, v1, moved: false };
  });
  window.addEventListener("pointermove", onMove);
  window.addEventListener("pointerup", onUp);
  function onMove(ev) {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (!drag.moved) return;
    const dt = (dx / plotW()) * (drag.v1 - drag.v0);
    v0 = drag.v0 - dt;
    v1 = drag.v1 - dt;
    tip.hidden = true;
    place();
  }
  function onUp() { drag = null; }
  const resize = new ResizeObserver(() => place());
  resize.observe(scroller);

  build();
  reset();

  return {
    /** Redraw with fresh data, keeping the zoom unless the view was the whole run. */
    update(fresh) {
      const whole = v0 <= t0 && v1 >= t1;
      data = fresh;
      build();
      if (whole) reset(); else place();
    },
    setGlue(on) { showGlue = on; build(); reset(); },
    zoom,
    reset,
    running: () => segs.some((s) => s.running),
    count: () => bars.length,
    destroy() {
      resize.disconnect();
      window.removeEventListener("pointermove", onMove);
      window.removeEventListener("pointerup", onUp);
      scroller.remove();
      tip.remove();
    },
  };
}
