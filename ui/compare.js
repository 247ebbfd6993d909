// Two dispatches side by side (#/compare/<left>/<right>): inputs and result, then every
// node paired with its counterpart (by name and occurrence), with both statuses, both
// outputs (marked where they differ) and both durations (marked slower or faster).
//
// The comparison itself is the server's (GET /dispatches/<left>/compare/<right>, computed
// by core/compare.py); this page only lays it out.

import { ApiError, apiGet } from "./api.js";
import { badge, fill, formatDuration, formatTime, h, toast } from "./dom.js";

function valueText(v) {
  if (!v || v.text === null || v.text === undefined) return null;
  return v.text;
}

function changeMark(changed) {
  if (changed === null || changed === undefined) return h("span", { class: "muted" }, "nothing to compare");
  return changed ? h("span", { class: "chg changed" }, "differs") : h("span", { class: "chg same" }, "same");
}

function trendMark(trend, ratio) {
  if (trend === "slower" || trend === "faster") {
    const times = ratio ? ` ×${ratio.toFixed(ratio < 10 ? 2 : 0)}` : "";
    return h("span", { class: `trend ${trend}`, "data-trend": trend }, `${trend}${times}`);
  }
  return trend === "same" ? h("span", { class: "muted", "data-trend": "same" }, "≈") : h("span", { class: "muted" }, "—");
}

function signed(seconds) {
  if (seconds === null || seconds === undefined) return "";
  return `${seconds >= 0 ? "+" : "−"}${formatDuration(Math.abs(seconds))}`;
}

function headCard(d, side) {
  return h("div", { class: `cmp-card ${side}` },
    h("div", { class: "muted" }, side === "left" ? "Baseline" : "Compared"),
    h("div", {}, h("a", { href: `#/dispatches/${d.dispatch_id}`, class: "cmp-name" }, d.name), " ", badge(d.status)),
    h("div", { class: "mono muted", title: d.dispatch_id }, d.dispatch_id),
    h("div", { class: "muted" }, `Started ${formatTime(d.start_time)} · ${formatDuration(d.duration_s)}`));
}

function valueRow(label, diff, id) {
  return h("div", { class: `cmp-values${diff.changed ? " changed" : ""}`, id },
    h("h3", {}, label, " ", changeMark(diff.changed)),
    h("div", { class: "cmp-pair" },
      h("pre", { class: valueText(diff.left) === null ? "empty" : "" }, valueText(diff.left) ?? "none"),
      h("pre", { class: valueText(diff.right) === null ? "empty" : "" }, valueText(diff.right) ?? "none")));
}

function outputCell(side, changed) {
  if (!side) return h("td", { class: "muted" }, "absent");
  const text = side.error ? side.error.split("\n").filter(Boolean).pop() : valueText(side.output);
  return h("td", { class: `out${changed ? " changed" : ""}${side.error ? " error" : ""}`, title: text ?? "" }, text ?? "—");
}

export function compareView(root, leftId, rightId, query) {
  let disposed = false;
  let onlyDiffs = query.get("diff") === "1";
  let hideParams = query.get("params") !== "1";
  let data = null;

  const diffToggle = h("input", { type: "checkbox", checked: onlyDiffs, id: "cmp-only-diffs" });
  const paramToggle = h("input", { type: "checkbox", checked: !hideParams, id: "cmp-params" });
  const body = h("tbody");
  const summary = h("div", { class: "cmp-summary", id: "cmp-summary" });
  const head = h("div", { class: "cmp-head" });
  const values = h("div", {});
  const note = h("p", { class: "muted" });

  fill(root, h("div", { class: "page compare" },
    h("div", { class: "toolbar" }, h("a", { href: "#/" }, "← Dispatches"),
      h("a", { href: `#/compare/${rightId}/${leftId}`, title: "Make the other dispatch the baseline" }, "⇄ swap"),
      h("span", { class: "spacer" })),
    head, summary, values,
    h("div", { class: "toolbar" }, h("h2", { class: "cmp-title" }, "Nodes"),
      h("label", {}, diffToggle, " only differences"),
      h("label", {}, paramToggle, " parameters"), h("span", { class: "spacer" }), note),
    h("table", { class: "dispatches cmp-table", id: "cmp-table" },
      h("thead", {}, h("tr", {}, ["Node", "Status", "", "Output", "", "Duration", "", "Change"].map((t) => h("th", {}, t))),
        h("tr", { class: "sub" }, ["", "baseline", "compared", "baseline", "compared", "baseline", "compared", ""].map((t) => h("th", {}, t)))),
      body)));

  function keepInUrl() {
    const q = new URLSearchParams();
    if (onlyDiffs) q.set("diff", "1");
    if (!hideParams) q.set("params", "1");
    const target = `#/compare/${leftId}/${rightId}${q.toString() ? `?${q}` : ""}`;
    if (location.hash !== target) history.replaceState(null, "", target);
  }

  function renderRows() {
    keepInUrl();
    const rows = data.nodes.filter((p) => (!onlyDiffs || p.differs) && (!hideParams || p.kind !== "parameter"));
    fill(body, rows.length ? null : h("tr", {}, h("td", { colspan: 8, class: "empty-state" },
      onlyDiffs ? "No node differs." : "No nodes.")));
    for (const p of rows) {
      const l = p.left;
      const r = p.right;
      const name = p.kind === "parameter" ? `parameter ${p.occurrence + 1}` : (p.occurrence ? `${p.name} #${p.occurrence + 1}` : p.name);
      const nodeLink = (side, id) => (side ? h("a", { href: `#/dispatches/${id}?node=${side.node_id}`, class: "muted mono" }, ` ${side.node_id}`) : null);
      body.append(h("tr", {
        class: p.differs ? "differs" : "",
        dataset: { name: p.name, occurrence: String(p.occurrence), differs: String(p.differs), outputChanged: String(p.output_changed) },
      },
      h("td", { class: "name" }, name, nodeLink(l, leftId) ?? nodeLink(r, rightId)),
      h("td", {}, l ? badge(l.status) : h("span", { class: "muted" }, "absent")),
      h("td", { class: p.status_changed && l && r ? "changed" : "" }, r ? badge(r.status) : h("span", { class: "muted" }, "absent")),
      outputCell(l, p.output_changed), outputCell(r, p.output_changed),
      h("td", { class: "duration" }, p.kind === "parameter" ? "" : formatDuration(l?.duration_s)),
      h("td", { class: "duration" }, p.kind === "parameter" ? "" : formatDuration(r?.duration_s)),
      h("td", {}, p.kind === "parameter" ? "" : [trendMark(p.trend, p.duration_ratio), " ", h("span", { class: "muted" }, signed(p.duration_delta_s))])));
    }
    note.textContent = `${rows.length} of ${data.nodes.length} shown${data.truncated ? " (the comparison lists the first 20000 nodes)" : ""}`;
  }

  function render() {
    fill(head, headCard(data.left, "left"), h("div", { class: "cmp-vs" }, "vs"), headCard(data.right, "right"));
    const t = data.totals;
    const item = (n, text, cls) => h("span", { class: n ? cls : "muted" }, `${n} ${text}`);
    fill(summary,
      h("span", {}, "Dispatch ", trendMark(data.trend, data.duration_ratio), " ", h("span", { class: "muted" }, signed(data.duration_delta_s))),
      data.same_graph ? h("span", { class: "muted" }, "same graph") : h("span", { class: "changed" }, "different graphs"),
      item(t.output_changed, "outputs differ", "changed"),
      item(t.status_changed, "statuses differ", "changed"),
      item(t.slower, "slower", "trend slower"),
      item(t.faster, "faster", "trend faster"),
      t.only_left || t.only_right ? h("span", { class: "changed" }, `${t.only_left} only in baseline, ${t.only_right} only in compared`) : null);
    fill(values, valueRow("Inputs", data.inputs, "cmp-inputs"), valueRow("Result", data.result, "cmp-result"));
    renderRows();
    root.querySelector(".compare").dataset.ready = "true";
  }

  diffToggle.addEventListener("change", () => { onlyDiffs = diffToggle.checked; renderRows(); });
  paramToggle.addEventListener("change", () => { hideParams = !paramToggle.checked; renderRows(); });

  (async () => {
    try {
      data = await apiGet(`/dispatches/${leftId}/compare/${rightId}`, { limit: 20000 });
    } catch (err) {
      if (disposed) return;
      if (err instanceof ApiError && err.status === 404) {
        fill(root, h("div", { class: "page empty-state" }, err.message, " ", h("a", { href: "#/" }, "Back to the list")));
      } else {
        toast(`Comparing failed: ${err.message}`, true);
      }
      return;
    }
    if (!disposed) render();
  })();

  return () => { disposed = true; };
}
