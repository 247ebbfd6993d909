// The dispatch list: status, name, times, duration and electron counts, kept live.
//
// The page asks for one page of dispatches; the live stream only tells it that something
// changed, and the page re-reads its own page (at most once a second), so a thousand
// electrons finishing cost a handful of small requests, not one per electron.

import { apiDelete, apiGet, apiPost, subscribe } from "./api.js";
import { badge, clear, elapsed, fill, formatDuration, formatTime, h, throttle, toast } from "./dom.js";
import { STATUS_COLORS, STATUSES, TERMINAL } from "./status.js";

const PAGE = 50;
/** The time-range choices: how far back from now, in hours ("custom": two dates). */
const RANGES = [["", "any time"], ["1h", "last hour"], ["24h", "last 24 hours"], ["7d", "last 7 days"], ["30d", "last 30 days"], ["custom", "between…"]];
const HOURS = { "1h": 1, "24h": 24, "7d": 24 * 7, "30d": 24 * 30 };

/** A datetime-local input's value (local time) as an ISO instant, or "". */
function instant(local) {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

/** The API's since/until for a range choice (`now` in ms). */
export function rangeParams(range, from, to, now = Date.now()) {
  if (HOURS[range]) return { since: new Date(now - HOURS[range] * 3600e3).toISOString() };
  if (range === "custom") return { since: instant(from) || undefined, until: instant(to) || undefined };
  return {};
}

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
    executor: query.get("executor") || "",
    range: RANGES.some(([k]) => k === query.get("range")) ? query.get("range") : "",
    from: query.get("from") || "",
    to: query.get("to") || "",
    offset: Number(query.get("offset") || 0),
  };
  let rows = [];
  let ticker = null;
  // selected dispatches (compare two, delete several), kept across live re-reads
  const picked = new Map(); // dispatch_id -> {name, status}

  const search = h("input", { type: "search", placeholder: "Search by name", value: state.name, "aria-label": "Search by name" });
  const statusSelect = h("select", { "aria-label": "Filter by status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)));
  const children = h("input", { type: "checkbox", checked: state.includeChildren });
  const executorList = h("datalist", { id: "executor-names" });
  const executorBox = h("input", { type: "search", id: "filter-executor", list: "executor-names", placeholder: "Executor", value: state.executor, "aria-label": "Filter by executor", size: 10 });
  const rangeSelect = h("select", { id: "filter-range", "aria-label": "Created" },
    RANGES.map(([k, t]) => h("option", { value: k, selected: k === state.range }, t)));
  const fromBox = h("input", { type: "datetime-local", id: "filter-from", value: state.from, "aria-label": "Created from" });
  const toBox = h("input", { type: "datetime-local", id: "filter-to", value: state.to, "aria-label": "Created before" });
  const between = h("span", { class: "between", hidden: state.range !== "custom" }, fromBox, " – ", toBox);
  const summary = h("span", { class: "muted" });
  const body = h("tbody");
  const prev = h("button", { onclick: () => { state.offset = Math.max(0, state.offset - PAGE); reload(); } }, "← Newer");
  const next = h("button", { onclick: () => { state.offset += PAGE; reload(); } }, "Older →");
  const pickAll = h("input", { type: "checkbox", "aria-label": "Select all on this page", title: "Select all on this page" });
  const table = h("table", { class: "dispatches" },
    h("thead", {}, h("tr", {}, h("th", { class: "pick" }, pickAll),
      ["Status", "Name", "Dispatch ID", "Started", "Ended", "Duration", "Electrons"].map((t) => h("th", {}, t)))),
    body);
  const pickedInfo = h("span", { class: "muted" });
  const compareBtn = h("button", { id: "compare-selected", onclick: () => compareSelected(), title: "Select two dispatches to compare them side by side" }, "Compare");
  const deleteBtn = h("button", { id: "delete-selected", class: "danger", onclick: () => confirmDelete() }, "Delete…");
  const clearBtn = h("button", { class: "link", onclick: () => { picked.clear(); syncPicks(); } }, "clear");

  fill(root, h("div", { class: "page" },
    h("div", { class: "toolbar" }, search, statusSelect, executorBox, executorList, rangeSelect, between,
      h("label", {}, children, " include sublattice dispatches"), h("span", { class: "spacer" }),
      h("span", { class: "selection" }, pickedInfo, clearBtn, compareBtn, deleteBtn), summary),
    table,
    h("div", { class: "pager" }, prev, next)));

  function syncPicks() {
    for (const box of body.querySelectorAll("input.pick")) box.checked = picked.has(box.dataset.dispatchId);
    const n = picked.size;
    pickedInfo.textContent = n ? `${n} selected` : "";
    clearBtn.hidden = !n;
    compareBtn.disabled = n !== 2;
    deleteBtn.disabled = n === 0;
    pickAll.checked = rows.length > 0 && rows.every((d) => picked.has(d.dispatch_id));
  }

  function compareSelected() {
    if (picked.size !== 2) return;
    // the older one is the baseline
    const [a, b] = [...picked.entries()].sort((x, y) => String(x[1].created_at).localeCompare(String(y[1].created_at)));
    location.hash = `#/compare/${a[0]}/${b[0]}`;
  }

  function confirmDelete() {
    const ids = [...picked.keys()];
    if (!ids.length) return;
    const running = ids.filter((id) => !TERMINAL.has(picked.get(id).status));
    const ok = h("button", { class: "danger", value: "delete", id: "confirm-delete" }, `Delete ${ids.length}`);
    const dialog = h("dialog", { class: "confirm", id: "delete-dialog" },
      h("form", { method: "dialog" },
        h("h2", {}, ids.length === 1 ? "Delete this dispatch?" : `Delete ${ids.length} dispatches?`),
        h("p", {}, "Their results, electrons, logs and sublattice dispatches are removed from the store. This cannot be undone."),
        h("ul", {}, ids.map((id) => h("li", {}, picked.get(id).name, " ", h("span", { class: "mono muted" }, id.slice(0, 8))))),
        running.length ? h("p", { class: "changed" }, `${running.length} still running: cancel ${running.length === 1 ? "it" : "them"} first, or the server refuses to delete ${running.length === 1 ? "it" : "them"}.`) : null,
        h("menu", {}, h("button", { value: "cancel" }, "Keep"), ok)));
    document.body.append(dialog);
    dialog.addEventListener("close", () => {
      const yes = dialog.returnValue === "delete";
      dialog.remove();
      if (yes) deleteDispatches(ids);
    }, { once: true });
    dialog.showModal();
  }

  async function deleteDispatches(ids) {
    const failed = [];
    let removed = 0;
    for (const id of ids) {
      try {
        const done = await apiDelete(`/dispatches/${id}`);
        removed += done.deleted.length;
        picked.delete(id);
      } catch (err) {
        failed.push(`${picked.get(id)?.name ?? id} (${id.slice(0, 8)}): ${err.message}`);
      }
    }
    if (failed.length) toast(`Not deleted: ${failed.join("; ")}`, true);
    else toast(`Deleted ${removed} dispatch${removed === 1 ? "" : "es"}.`);
    syncPicks();
    reload();
  }

  pickAll.addEventListener("change", () => {
    for (const d of rows) {
      if (pickAll.checked) picked.set(d.dispatch_id, d);
      else picked.delete(d.dispatch_id);
    }
    syncPicks();
  });

  function keepInUrl() {
    const q = new URLSearchParams();
    if (state.name) q.set("name", state.name);
    if (state.status) q.set("status", state.status);
    if (state.includeChildren) q.set("children", "1");
    if (state.executor) q.set("executor", state.executor);
    if (state.range) q.set("range", state.range);
    if (state.range === "custom" && state.from) q.set("from", state.from);
    if (state.range === "custom" && state.to) q.set("to", state.to);
    if (state.offset) q.set("offset", String(state.offset));
    const target = `#/${q.toString() ? `?${q}` : ""}`;
    if (location.hash !== target) history.replaceState(null, "", target);
  }

  function render(page) {
    rows = page.items;
    clear(body);
    if (!rows.length) {
      body.append(h("tr", {}, h("td", { colspan: 8, class: "empty-state" },
        state.name || state.status || state.executor || state.range ? "No dispatch matches." : "No dispatches yet: run ct.dispatch(lattice)(...) and it appears here.")));
    }
    for (const d of rows) {
      const duration = h("td", { class: "duration" }, formatDuration(d.duration_s ?? elapsed(d.start_time, d.end_time)));
      if (picked.has(d.dispatch_id)) picked.set(d.dispatch_id, d); // its status may have moved on
      const box = h("input", {
        type: "checkbox", class: "pick", "aria-label": `Select ${d.name}`, dataset: { dispatchId: d.dispatch_id },
        onchange: (ev) => { if (ev.target.checked) picked.set(d.dispatch_id, d); else picked.delete(d.dispatch_id); syncPicks(); },
      });
      body.append(h("tr", {
        dataset: { dispatchId: d.dispatch_id, status: d.status },
        onclick: (ev) => { if (!ev.target.closest("td.pick")) location.hash = `#/dispatches/${d.dispatch_id}`; },
      },
      h("td", { class: "pick" }, box),
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
    syncPicks();
  }

  let generation = 0;
  async function reload() {
    keepInUrl();
    const mine = ++generation;
    try {
      const page = await apiGet("/dispatches", {
        name: state.name, status: state.status || undefined,
        root_only: state.includeChildren ? undefined : "true", limit: PAGE, offset: state.offset,
        executor: state.executor, ...rangeParams(state.range, state.from, state.to),
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
  executorBox.addEventListener("input", throttle(() => { state.executor = executorBox.value.trim(); state.offset = 0; reload(); }, 300));
  rangeSelect.addEventListener("change", () => {
    state.range = rangeSelect.value;
    between.hidden = state.range !== "custom";
    state.offset = 0;
    reload();
  });
  for (const box of [fromBox, toBox]) {
    box.addEventListener("change", () => { state.from = fromBox.value; state.to = toBox.value; state.offset = 0; reload(); });
  }
  // the executors in use, offered as the filter's suggestions (best effort: SQL may be off)
  apiPost("/sql", { query: "SELECT DISTINCT executor FROM electrons WHERE executor IS NOT NULL ORDER BY 1", max_rows: 100 })
    .then((answer) => fill(executorList, answer.rows.map((r) => h("option", { value: String(r[0]) }))))
    .catch(() => {});

  syncPicks();
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
