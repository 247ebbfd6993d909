// The triggers of a dispatch, as a small section of its page (#/dispatches/<id>), from
// GET /api/v1/dispatches/<id>/triggers: each trigger registered for it (kind, settings,
// state, firings, last error), the runs its firings started and, for a run a trigger
// started, the dispatch it came from. It mounts itself under the dispatch page's header
// once the page has shown the dispatch (so it never delays the page's own requests), and
// shows nothing for a dispatch without triggers; a failed request leaves the page as is.

import { apiGet } from "./api.js";
import { badge, formatTime, h } from "./dom.js";

const ROUTE = /^#\/dispatches\/([A-Za-z0-9_.:-]+)(?:\?|$)/;
const HEADER = "#view .dispatch-head .badge";
const WAIT_MS = 60000;
let generation = 0;

function link(id) {
  return h("a", { href: `#/dispatches/${id}`, class: "mono" }, id.slice(0, 8));
}

function settingsText(settings) {
  return Object.entries(settings || {})
    .filter(([k]) => !["lattice_dispatch_id", "observe_blocks", "use_internal_funcs", "dispatcher_addr", "triggers_server_addr"].includes(k))
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
}

function section(found) {
  const parts = [];
  const triggers = found.triggers;
  if (found.triggered_by) parts.push(h("p", { class: "muted" }, "Started by a trigger of ", link(found.triggered_by)));
  if (triggers.length) {
    parts.push(h("table", { class: "sql-table" },
      h("thead", {}, h("tr", {}, ["Trigger", "Settings", "State", "Firings", "Last fired", "Error"].map((t) => h("th", {}, t)))),
      h("tbody", {}, triggers.map((t) => h("tr", { dataset: { trigger: t.trigger_id } },
        h("td", {}, t.kind),
        h("td", { class: "mono" }, settingsText(t.settings)),
        h("td", {}, h("span", { class: `badge ${t.state === "active" ? "RUNNING" : "NEW_OBJECT"}` }, t.state)),
        h("td", {}, String(t.firings)),
        h("td", {}, formatTime(t.last_fired_at)),
        h("td", {}, t.error || "—"))))));
  }
  if (found.runs.length) {
    const more = found.runs_total > found.runs.length ? ` (the latest ${found.runs.length} of ${found.runs_total})` : "";
    parts.push(h("p", {}, `Runs its triggers started${more}: `,
      found.runs.flatMap((r, i) => [i ? ", " : "", link(r.dispatch_id), " ", badge(r.status)])));
  }
  if (!parts.length) return null;
  return h("section", { class: "panel triggers", id: "triggers" }, h("h2", {}, "Triggers"), parts);
}

/** Resolves once the dispatch page shows its dispatch (false if it never does). */
function pageShown() {
  if (document.querySelector(HEADER)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (document.querySelector(HEADER)) { observer.disconnect(); clearTimeout(timer); resolve(true); }
    });
    const timer = setTimeout(() => { observer.disconnect(); resolve(false); }, WAIT_MS);
    observer.observe(document.getElementById("view"), { childList: true, subtree: true });
  });
}

async function show() {
  const mine = ++generation;
  document.getElementById("triggers")?.remove();
  const match = location.hash.match(ROUTE);
  if (!match) return;
  if (!(await pageShown()) || mine !== generation) return;
  let found;
  try {
    found = await apiGet(`/dispatches/${match[1]}/triggers`);
  } catch {
    return;
  }
  if (mine !== generation) return;
  const el = section(found);
  const anchor = document.querySelector("#view .dispatch .origin");
  if (el && anchor) anchor.after(el);
}

window.addEventListener("hashchange", show);
show();
