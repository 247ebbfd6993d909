// The settings page (#/settings): every setting in effect, as `covalent-ray config` shows
// it, with the values of secrets hidden by the server. Read-only: settings change with
// `covalent-ray config KEY VALUE` (or ct.set_config).

import { apiGet } from "./api.js";
import { fill, h } from "./dom.js";

function show(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Rows of dotted keys and values of a nested settings dict, keys sorted. */
export function flatten(data, prefix = "") {
  const rows = [];
  for (const key of Object.keys(data).sort()) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    const value = data[key];
    if (value && typeof value === "object" && !Array.isArray(value)) rows.push(...flatten(value, dotted));
    else rows.push([dotted, value]);
  }
  return rows;
}

export function settingsView(root) {
  const body = h("div", {}, h("p", { class: "muted" }, "Loading settings…"));
  const filter = h("input", { type: "search", id: "settings-filter", placeholder: "Filter keys", "aria-label": "Filter keys" });
  fill(root, h("div", { class: "page settings" },
    h("div", { class: "page-head" }, h("h1", {}, "Settings"), filter), body));
  let rows = [];
  let info = null;
  let disposed = false;

  function render() {
    const q = filter.value.trim().toLowerCase();
    const hidden = new Set(info.redacted);
    const shown = rows.filter(([k]) => !q || k.toLowerCase().includes(q));
    const sections = new Map();
    for (const row of shown) {
      const section = row[0].split(".")[0];
      if (!sections.has(section)) sections.set(section, []);
      sections.get(section).push(row);
    }
    fill(body,
      h("p", { class: "muted" }, "The settings in effect: built-in defaults, executor plugins' defaults, the config file ",
        h("code", { id: "settings-file" }, info.file), " and the running service's address. Change one with ",
        h("code", {}, "covalent-ray config KEY VALUE"), ". Values of tokens, passwords and secrets are hidden."),
      shown.length ? null : h("p", { class: "muted" }, "No key matches."),
      [...sections].map(([section, items]) => h("section", { class: "settings-section", dataset: { section } },
        h("h2", {}, section),
        h("table", { class: "settings-table" }, h("tbody", {}, items.map(([k, v]) => h("tr", { dataset: { key: k } },
          h("th", { class: "mono" }, k.slice(section.length + 1) || k),
          h("td", { class: `mono${hidden.has(k) ? " redacted" : ""}`, title: hidden.has(k) ? "hidden: a secret" : null }, show(v)))))))));
  }

  (async () => {
    try {
      info = await apiGet("/config");
    } catch (err) {
      if (!disposed) fill(body, h("p", { class: "error" }, `Reading the settings failed: ${err.message}`));
      return;
    }
    if (disposed) return;
    rows = flatten(info.config);
    render();
    body.dataset.ready = "true";
  })();
  filter.addEventListener("input", () => info && render());
  return () => { disposed = true; };
}
