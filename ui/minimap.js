// The graph's minimap: the whole graph drawn small on a canvas, with the part the main
// view shows as a rectangle. A click centres the main view on that point; dragging pans
// it continuously. Nodes are drawn as coloured boxes at their laid-out positions (no
// labels), which stays cheap for thousands of nodes; the drawing is redone at most once
// an animation frame, when the view moves or a node's status changes.

import { STATUS_COLORS } from "./status.js";

const PAD = 6;

/**
 * Attach a minimap of `cy` to `canvas`. Returns {redraw, toModel, viewport, destroy}:
 * `toModel(x, y)` maps a point of the canvas (CSS pixels) to graph coordinates, and
 * `viewport()` answers the rectangle drawn for the main view, in canvas pixels.
 */
export function attachMinimap(cy, canvas) {
  const ctx = canvas.getContext("2d");
  let frame = null;
  let box = null; // graph bounding box the scale was computed for
  let scale = 1;
  let offset = { x: 0, y: 0 };
  let view = { x: 0, y: 0, w: 0, h: 0 };
  let dragging = false;

  function size() {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { w, h };
  }

  function draw() {
    frame = null;
    if (cy.destroyed()) return;
    const { w, h } = size();
    ctx.clearRect(0, 0, w, h);
    if (!w || !h || cy.nodes().empty()) return;
    box = cy.elements().boundingBox();
    scale = Math.min((w - 2 * PAD) / Math.max(box.w, 1), (h - 2 * PAD) / Math.max(box.h, 1));
    offset = { x: (w - box.w * scale) / 2 - box.x1 * scale, y: (h - box.h * scale) / 2 - box.y1 * scale };
    ctx.strokeStyle = "#ced4da";
    ctx.lineWidth = 0.5;
    ctx.beginPath();
    cy.edges().forEach((e) => {
      const s = e.source().position();
      const t = e.target().position();
      ctx.moveTo(s.x * scale + offset.x, s.y * scale + offset.y);
      ctx.lineTo(t.x * scale + offset.x, t.y * scale + offset.y);
    });
    ctx.stroke();
    cy.nodes().forEach((n) => {
      const p = n.position();
      const nw = Math.max(2, n.width() * scale);
      const nh = Math.max(2, n.height() * scale);
      ctx.fillStyle = n.data("kind") === "parameter" ? "#ced4da" : STATUS_COLORS[n.data("status")] || STATUS_COLORS.NEW_OBJECT;
      ctx.fillRect(p.x * scale + offset.x - nw / 2, p.y * scale + offset.y - nh / 2, nw, nh);
    });
    const ext = cy.extent();
    view = {
      x: ext.x1 * scale + offset.x, y: ext.y1 * scale + offset.y, w: ext.w * scale, h: ext.h * scale,
    };
    ctx.fillStyle = "rgba(59, 91, 219, 0.08)";
    ctx.fillRect(view.x, view.y, view.w, view.h);
    ctx.strokeStyle = "#3b5bdb";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(view.x, view.y, view.w, view.h);
    canvas.dataset.view = [view.x, view.y, view.w, view.h].map((v) => v.toFixed(1)).join(",");
  }

  function redraw() {
    if (frame === null) frame = requestAnimationFrame(draw);
  }

  function toModel(x, y) {
    return { x: (x - offset.x) / scale, y: (y - offset.y) / scale };
  }

  /** Centre the main view on the graph point under the pointer. */
  function panTo(ev) {
    if (!box) return;
    const r = canvas.getBoundingClientRect();
    const m = toModel(ev.clientX - r.left, ev.clientY - r.top);
    const zoom = cy.zoom();
    cy.pan({ x: cy.width() / 2 - m.x * zoom, y: cy.height() / 2 - m.y * zoom });
  }

  function down(ev) {
    dragging = true;
    canvas.setPointerCapture(ev.pointerId);
    panTo(ev);
    ev.preventDefault();
  }
  function move(ev) {
    if (dragging) panTo(ev);
  }
  function up(ev) {
    dragging = false;
    if (canvas.hasPointerCapture(ev.pointerId)) canvas.releasePointerCapture(ev.pointerId);
  }

  canvas.addEventListener("pointerdown", down);
  canvas.addEventListener("pointermove", move);
  canvas.addEventListener("pointerup", up);
  canvas.addEventListener("pointercancel", up);
  cy.on("viewport resize layoutstop", redraw);
  cy.on("data", "node", redraw);
  redraw();

  return {
    redraw,
    toModel,
    viewport: () => ({ ...view }),
    destroy() {
      if (frame !== null) cancelAnimationFrame(frame);
      canvas.removeEventListener("pointerdown", down);
      canvas.removeEventListener("pointermove", move);
      canvas.removeEventListener("pointerup", up);
      canvas.removeEventListener("pointercancel", up);
      if (!cy.destroyed()) {
        cy.off("viewport resize layoutstop", redraw);
        cy.off("data", "node", redraw);
      }
    },
  };
}
