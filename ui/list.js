// The dispatch list: status, name, times, duration and electron counts, kept live.
//
// The page asks for one page of dispatches; the live stream only tells it that something
// changed, and the page re-reads its own page (at most once a second), so a thousand
// electrons finishing cost a handful of small requests, not one per electron.

import { apiGet, subscribe } from "./api.js";
import { badge, clear, elapsed, fill, formatDuration, formatTime, h, throttle, toast } from "./dom.js";
import { STATUS_COLORS, STATUSES, TERMINAL } from "./status.js";

const PAGE = 50;

function countsCell(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (!total) return h("span", { class: "muted" }, "—");
  const done = counts.COMPLETED || 0;
  const bar = h("span", { class: "bar", title: Object.entries(counts).map(([s, n]) => `${s}: ${n}`).join("\n") });
  for (const status of STATUSES) {
    if (!counts[status]) continue;
    bar.append(h("span", { style: { width: `${(100 * counts[status]) / total}%`, background: STATUS_COLORS[status] } }));
  }
  const failed = counts.FAILED || 0;
  return h("span", { class: "counts" }, bar, `${done}/${total}`,
    failed ? h("span", { style: { color: STATUS_COLORS.FAILED } }, `${failed} failed`) : null);
}

export function listView(root, query) {
  const state = {
    name: query.get("name") || "",
    status: query.get("status") || "",
    includeChildren: query.get("children") === "1",
    offset: Number(query.get("offset") || 0),
  };
  let rows = [];
  let ticker = null;

  const search = h("input", { type: "search", placeholder: "Search by name", value: state.name, "aria-label": "Search by name" });
  const statusSelect = h("select", { "aria-label": "Filter by status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)));
  const children = h("input", { type: "checkbox", checked: state.includeChildren });
  const summary = h("span", { class: "muted" });
  const body = h("tbody");
  const prev = h("button", { onclick: () => { state.offset = Math.max(0, state.offset - PAGE); reload(); } }, "← Newer");
  const next = h("button", { onclick: () => { state.offset += PAGE; reload(); } }, "Older →");
  const table = h("table", { class: "dispatches" },
    h("thead", {}, h("tr", {}, ["Status", "Name", "Dispatch ID", "Started", "Ended", "Duration", "Electrons"].map((t) => h("th", {}, t)))),
    body);

  fill(root, h("div", { class: "page" },
    h("div", { class: "toolbar" }, search, statusSelect,
      h("label", {}, children, " include sublattice dispatches"), h("span", { class: "spacer" }), summary),
    table,
    h("div", { class: "pager" }, prev, next)));

  function keepInUrl() {
    const q = new URLSearchParams();
    if (state.name) q.set("name", state.name);
    if (state.status) q.set("status", state.status);
    if (state.includeChildren) q.set("children", "1");
    if (state.offset) q.set("offset", String(state.offset));
    const target = `#/${q.toString() ? `?${q}` : ""}`;
    if (location.hash !== target) history.replaceState(null, "", target);
  }

  function render(page) {
    rows = page.items;
    clear(body);
    if (!rows.length) {
      body.append(h("tr", {}, h("td", { colspan: 7, class: "empty-state" },
        state.name || state.status ? "No dispatch matches." : "No dispatches yet: run ct.dispatch(lattice)(...) and it appears here.")));
    }
    for (const d of rows) {
      const duration = h("td", { class: "duration" }, formatDuration(d.duration_s ?? elapsed(d.start_time, d.end_time)));
      body.append(h("tr", {
        dataset: { dispatchId: d.dispatch_id, status: d.status },
        onclick: () => { location.hash = `#/dispatches/${d.dispatch_id}`; },
      },
      h("td", {}, badge(d.status)),
      h("td", { class: "name" }, h("a", { href: `#/dispatches/${d.dispatch_id}` }, d.name),
        d.parent_dispatch_id ? h("span", { class: "muted" }, " (sublattice)") : null),
      h("td", { class: "mono", title: d.dispatch_id }, d.dispatch_id.slice(0, 8)),
      h("td", { title: d.start_time || "" }, formatTime(d.start_time)),
      h("td", { title: d.end_time || "" }, formatTime(d.end_time)),
      duration,
      h("td", {}, countsCell(d.electron_counts))));
    }
    const last = Math.min(page.offset + rows.length, page.total);
    summary.textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
    prev.disabled = page.offset === 0;
    next.disabled = last >= page.total;
  }

  let generation = 0;
  async function reload() {
    keepInUrl();
    const mine = ++generation;
    try {
      const page = await apiGet("/dispatches", {
        name: state.name, status: state.status || undefined,
        root_only: state.includeChildren ? undefined : "true", limit: PAGE, offset: state.offset,
      });
      if (mine === generation) render(page); // an older answer must not overwrite a newer one
    } catch (err) {
      toast(`Loading dispatches failed: ${err.message}`, true);
    }
  }
  const refresh = throttle(reload, 1000);

  search.addEventListener("input", throttle(() => { state.name = search.value.trim(); state.offset = 0; reload(); }, 300));
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; state.offset = 0; reload(); });
  children.addEventListener("change", () => { state.includeChildren = children.checked; state.offset = 0; reload(); });

  reload();
  const stop = subscribe({}, (event, data) => {
    if (event === "changes" || event === "resync") refresh();
  });
  // running dispatches' durations tick without asking the server
  ticker = setInterval(() => {
    for (const tr of body.querySelectorAll("tr[data-status]")) {
      if (TERMINAL.has(tr.dataset.status)) continue;
      const d = rows.find((r) => r.dispatch_id === tr.dataset.dispatchId);
      if (d) tr.querySelector(".duration").textContent = formatDuration(elapsed(d.start_time, d.end_time));
    }
  }, 1000);

  return () => {
    stop();
    clearInterval(ticker);
  };
}
