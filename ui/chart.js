// A chart of two columns of an SQL answer, drawn in SVG: a line, bars or a scatter of y
// over x. The x column may hold numbers, times (TIMESTAMP / ISO text) or anything else
// (categories, in row order); y must hold numbers (rows where it does not are left out
// and counted). Values reach the page as SVG text nodes only.

const SVG = "http://www.w3.org/2000/svg";
const MARGIN = { top: 16, right: 20, bottom: 46, left: 64 };
export const CHART_KINDS = ["line", "bar", "scatter"];

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function number(v) {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function time(v) {
  if (typeof v !== "string" || !/^\d{4}-\d\d-\d\d/.test(v)) return null;
  // the store's times are UTC; DuckDB sends them without a zone
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v.replace(" ", "T")}Z`);
  return Number.isNaN(t) ? null : t;
}

/** Round tick values covering [lo, hi], about `count` of them. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function formatNumber(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

function formatTimeTick(t, span) {
  const d = new Date(t);
  if (span < 2 * 86400e3) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: span < 600e3 ? "2-digit" : undefined });
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/**
 * The points of a chart: {x, y, label} per row with a numeric y, the x scale's type
 * ("number", "time" or "category") and how many rows were left out. Pure, no DOM.
 */
export function chartPoints(rows, xi, yi) {
  const xs = rows.map((r) => r[xi]);
  const present = xs.filter((v) => v !== null && v !== undefined);
  let type = "category";
  if (present.length && present.every((v) => number(v) !== null)) type = "number";
  else if (present.length && present.every((v) => time(v) !== null)) type = "time";
  const points = [];
  let skipped = 0;
  rows.forEach((r, i) => {
    const y = number(r[yi]);
    const raw = r[xi];
    const x = type === "number" ? number(raw) : type === "time" ? time(raw) : i;
    if (y === null || x === null) {
      skipped++;
      return;
    }
    points.push({ x, y, label: raw === null || raw === undefined ? "NULL" : typeof raw === "object" ? JSON.stringify(raw) : String(raw), row: i });
  });
  if (type !== "category") points.sort((a, b) => a.x - b.x);
  return { points, type, skipped };
}

/**
 * Draw a `kind` chart of column `y` over column `x` of `answer` ({columns, rows}) into
 * `box`. Returns {points, type, skipped} (what was drawn).
 */
export function drawChart(box, answer, { kind = "line", x, y, width = 900, height = 380 }) {
  const xi = answer.columns.indexOf(x);
  const yi = answer.columns.indexOf(y);
  const { points, type, skipped } = chartPoints(answer.rows, xi, yi);
  const svg = el("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${kind} chart of ${y} over ${x}` });
  svg.dataset.kind = kind;
  svg.dataset.xType = type;
  svg.dataset.points = String(points.length);
  box.replaceChildren(svg);
  const w = width - MARGIN.left - MARGIN.right;
  const h = height - MARGIN.top - MARGIN.bottom;
  const plot = el("g", { transform: `translate(${MARGIN.left},${MARGIN.top})` });
  svg.append(plot);
  if (!points.length) {
    plot.append(el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "chart-empty" }, `No row has a number in ${y}.`));
    return { points, type, skipped };
  }
  const ys = points.map((p) => p.y);
  let yLo = Math.min(...ys);
  let yHi = Math.max(...ys);
  if (kind === "bar") { yLo = Math.min(0, yLo); yHi = Math.max(0, yHi); }
  if (yLo === yHi) { yLo -= 1; yHi += 1; }
  const yTicks = ticks(yLo, yHi);
  yLo = Math.min(yLo, yTicks[0]);
  yHi = Math.max(yHi, yTicks[yTicks.length - 1]);
  const sy = (v) => h - ((v - yLo) / (yHi - yLo)) * h;

  // bars and categories sit in bands; numbers and times on a continuous axis
  const banded = type === "category" || kind === "bar";
  let sx;
  let band = 0;
  if (banded) {
    band = w / points.length;
    sx = (p, i) => band * i + band / 2;
  } else {
    let lo = points[0].x;
    let hi = points[points.length - 1].x;
    if (lo === hi) { lo -= 1; hi += 1; }
    sx = (p) => ((p.x - lo) / (hi - lo)) * w;
    const span = hi - lo;
    const xTicks = ticks(lo, hi, 6);
    for (const t of xTicks) {
      const px = ((t - lo) / (hi - lo)) * w;
      plot.append(el("line", { x1: px, x2: px, y1: h, y2: h + 5, class: "chart-tick" }));
      plot.append(el("text", { x: px, y: h + 18, "text-anchor": "middle", class: "chart-label" }, type === "time" ? formatTimeTick(t, span) : formatNumber(t)));
    }
  }
  for (const t of yTicks) {
    plot.append(el("line", { x1: 0, x2: w, y1: sy(t), y2: sy(t), class: "chart-grid" }));
    plot.append(el("text", { x: -8, y: sy(t) + 4, "text-anchor": "end", class: "chart-label" }, formatNumber(t)));
  }
  plot.append(el("line", { x1: 0, x2: w, y1: h, y2: h, class: "chart-axis" }));
  plot.append(el("line", { x1: 0, x2: 0, y1: 0, y2: h, class: "chart-axis" }));
  if (banded) {
    // label every band that has room (about 60 px a label)
    const every = Math.max(1, Math.ceil(60 / band));
    points.forEach((p, i) => {
      if (i % every) return;
      const label = p.label.length > 12 ? `${p.label.slice(0, 11)}…` : p.label;
      plot.append(el("text", { x: sx(p, i), y: h + 18, "text-anchor": "middle", class: "chart-label" }, type === "time" ? formatTimeTick(p.x, 0) : label));
    });
  }
  plot.append(el("text", { x: w / 2, y: h + 38, "text-anchor": "middle", class: "chart-title" }, x));
  plot.append(el("text", { x: -h / 2, y: -50, transform: "rotate(-90)", "text-anchor": "middle", class: "chart-title" }, y));

  const marks = el("g", { class: `chart-marks ${kind}` });
  plot.append(marks);
  const tip = (p) => el("title", {}, `${x}: ${p.label}\n${y}: ${formatNumber(p.y)}`);
  if (kind === "line") {
    marks.append(el("polyline", { class: "chart-line", points: points.map((p, i) => `${sx(p, i).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ") }));
  }
  points.forEach((p, i) => {
    const data = { "data-x": p.label, "data-y": p.y };
    let mark;
    if (kind === "bar") {
      const top = sy(Math.max(0, p.y));
      mark = el("rect", { class: "chart-bar", x: band * i + band * 0.1, width: Math.max(1, band * 0.8), y: top, height: Math.max(0.5, Math.abs(sy(p.y) - sy(0))), ...data });
    } else {
      mark = el("circle", { class: kind === "line" ? "chart-dot small" : "chart-dot", cx: sx(p, i), cy: sy(p.y), r: kind === "line" ? 2.5 : 4, ...data });
    }
    mark.append(tip(p));
    marks.append(mark);
  });
  return { points, type, skipped };
}
