// The SQL console (#/sql): one read-only query over the result views, its rows in a
// table, and the views' columns at hand on the side.
//
// Queries go to POST /api/v1/sql, which runs them in the service's SQL sandbox; a refused
// or failed query comes back as a 400 whose reason is shown under the editor. The query
// is kept in the URL (#/sql?q=...) so a console state can be shared or bookmarked.

import { apiGet, apiPost } from "./api.js";
import { CHART_KINDS, drawChart } from "./chart.js";
import { clear, fill, h } from "./dom.js";

const EXAMPLES = [
  ["Dispatches by status", "SELECT status, count(*) AS n\nFROM dispatches\nGROUP BY status\nORDER BY n DESC"],
  ["Slowest electrons", "SELECT name, count(*) AS runs, round(avg(duration_s), 3) AS mean_s\nFROM electrons\nWHERE kind = 'electron' AND status = 'COMPLETED'\nGROUP BY name\nORDER BY mean_s DESC\nLIMIT 10"],
  ["Failures of the last day", "SELECT d.created_at, d.name AS lattice, e.name AS electron,\n       regexp_extract(e.error, '([^\\n]+)\\s*$', 1) AS reason\nFROM electrons e JOIN dispatches d USING (dispatch_id)\nWHERE e.status = 'FAILED' AND d.created_at > now()::TIMESTAMP - INTERVAL 1 DAY\nORDER BY d.created_at DESC"],
  ["Latest dispatches", "SELECT dispatch_id, name, status, start_time, duration_s, result\nFROM dispatches\nORDER BY created_at DESC\nLIMIT 20"],
];
const DEFAULT_QUERY = EXAMPLES[0][1];
const LAST_KEY = "covalent-ray-sql-last";

/** A cell's text: JSON values compact, NULL visible, everything else as sent. */
function cellText(value, type) {
  if (value === null || value === undefined) return null;
  if (type === "JSON" || (typeof value === "object")) return JSON.stringify(value);
  return String(value);
}

export function sqlView(root, query) {
  const editor = h("textarea", {
    class: "sql-editor", spellcheck: "false", "aria-label": "SQL query", rows: 8,
  });
  editor.value = query.get("q") || localStorage.getItem(LAST_KEY) || DEFAULT_QUERY;
  const maxRows = h("input", { type: "number", min: 1, max: 1000000, value: 1000,
    class: "sql-max-rows", "aria-label": "Maximum rows", title: "Maximum rows returned" });
  const runButton = h("button", { class: "primary", onclick: () => run(), title: "Ctrl+Enter" }, "Run");
  const examples = h("select", { "aria-label": "Example queries" },
    h("option", { value: "" }, "Examples…"),
    EXAMPLES.map(([label], i) => h("option", { value: String(i) }, label)));
  const status = h("span", { class: "muted sql-status", role: "status" });
  const error = h("pre", { class: "error sql-error", hidden: true });
  const results = h("div", { class: "sql-results" });
  // the chart of two columns (kept in the URL with the query: #/sql?q=...&chart=line&x=..&y=..)
  const chartKind = h("select", { id: "chart-kind", "aria-label": "Show as" },
    h("option", { value: "" }, "table"), CHART_KINDS.map((k) => h("option", { value: k, selected: k === query.get("chart") }, `${k} chart`)));
  const chartX = h("select", { id: "chart-x", "aria-label": "x column" });
  const chartY = h("select", { id: "chart-y", "aria-label": "y column" });
  const chartAxes = h("span", { class: "chart-axes", hidden: true }, " x ", chartX, " y ", chartY);
  const chartInfo = h("span", { class: "muted", id: "chart-info" });
  const chartBar = h("div", { class: "toolbar chart-bar-tools", hidden: true }, h("label", { class: "muted" }, "show as ", chartKind), chartAxes, chartInfo);
  const chartBox = h("div", { class: "chart-box", id: "chart", hidden: true });
  let lastAnswer = null;
  let wanted = { x: query.get("x") || "", y: query.get("y") || "" };
  const schemaPanel = h("div", { class: "sql-schema" }, h("p", { class: "muted" }, "Loading views…"));

  fill(root, h("div", { class: "sql-page" },
    h("section", { class: "sql-main" },
      editor,
      h("div", { class: "toolbar" }, runButton, examples,
        h("label", { class: "muted" }, "max rows ", maxRows),
        h("span", { class: "spacer" }), status),
      error,
      chartBar, chartBox,
      results),
    h("aside", { class: "sql-side" }, h("h3", {}, "Views"), schemaPanel)));

  examples.addEventListener("change", () => {
    if (examples.value === "") return;
    editor.value = EXAMPLES[Number(examples.value)][1];
    examples.value = "";
    editor.focus();
  });
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    }
  });

  /** Insert text at the editor's cursor (clicking a column name in the schema). */
  function insert(text) {
    const { selectionStart: start, selectionEnd: end, value } = editor;
    editor.value = value.slice(0, start) + text + value.slice(end);
    editor.selectionStart = editor.selectionEnd = start + text.length;
    editor.focus();
  }

  function renderSchema(views) {
    clear(schemaPanel);
    for (const view of views) {
      const columns = h("ul", { class: "sql-columns" }, view.columns.map((c) =>
        h("li", { title: c.doc },
          h("button", { class: "link", onclick: () => insert(c.name) }, c.name),
          h("span", { class: "muted" }, ` ${c.type}`))));
      schemaPanel.append(h("details", { open: view.name === "dispatches" || view.name === "electrons", dataset: { view: view.name } },
        h("summary", { title: view.doc },
          h("button", {
            class: "link view-name",
            onclick: (event) => { event.preventDefault(); editor.value = `SELECT *\nFROM ${view.name}\nLIMIT 100`; editor.focus(); },
          }, view.name)),
        h("p", { class: "muted doc" }, view.doc),
        columns));
    }
  }

  function renderRows(answer) {
    const head = h("tr", {}, answer.columns.map((c, i) => h("th", { title: answer.types[i] }, c)));
    const body = h("tbody");
    for (const row of answer.rows) {
      body.append(h("tr", {}, row.map((value, i) => {
        const text = cellText(value, answer.types[i]);
        if (text === null) return h("td", { class: "null" }, "NULL");
        return h("td", { title: text.length > 80 ? text : null, class: answer.types[i] === "JSON" ? "mono" : null }, text);
      })));
    }
    fill(results, answer.rows.length
      ? h("table", { class: "sql-table" }, h("thead", {}, head), body)
      : h("p", { class: "empty-state" }, "No rows."));
  }

  let generation = 0;
  async function run() {
    const text = editor.value.trim();
    if (!text) return;
    localStorage.setItem(LAST_KEY, text);
    keepInUrl();
    const mine = ++generation;
    runButton.disabled = true;
    error.hidden = true;
    status.textContent = "Running…";
    try {
      const answer = await apiPost("/sql", { query: text, max_rows: Number(maxRows.value) || 1000 });
      if (mine !== generation) return;
      lastAnswer = answer;
      renderRows(answer);
      renderChartTools();
      const count = `${answer.row_count} row${answer.row_count === 1 ? "" : "s"}`;
      const cut = answer.truncated ? ` (truncated by the ${answer.truncated === "bytes" ? "size" : "row"} bound)` : "";
      status.textContent = `${count}${cut} · ${(answer.elapsed_s * 1000).toFixed(1)} ms`;
    } catch (err) {
      if (mine !== generation) return;
      status.textContent = err.status === 400 ? "Query refused or failed" : "Request failed";
      error.textContent = err.message;
      error.hidden = false;
      clear(results);
      lastAnswer = null;
      chartBar.hidden = true;
      chartBox.hidden = true;
    } finally {
      if (mine === generation) runButton.disabled = false;
    }
  }

  function keepInUrl() {
    const text = editor.value.trim();
    const q = new URLSearchParams({ q: text });
    if (chartKind.value) {
      q.set("chart", chartKind.value);
      if (chartX.value) q.set("x", chartX.value);
      if (chartY.value) q.set("y", chartY.value);
    }
    const target = `#/sql?${q}`;
    if (location.hash !== target) history.replaceState(null, "", target);
  }

  /** Offer the answer's columns; x defaults to the first, y to the first numeric other. */
  function renderChartTools() {
    const cols = lastAnswer.columns;
    chartBar.hidden = !cols.length || !lastAnswer.rows.length;
    const numeric = cols.filter((c, i) => /INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC/i.test(lastAnswer.types[i]));
    const x = cols.includes(wanted.x) ? wanted.x : (chartX.value && cols.includes(chartX.value) ? chartX.value : cols[0]);
    const y = cols.includes(wanted.y) ? wanted.y
      : (chartY.value && cols.includes(chartY.value) ? chartY.value : numeric.find((c) => c !== x) || numeric[0] || cols[cols.length - 1]);
    fill(chartX, cols.map((c) => h("option", { value: c, selected: c === x }, c)));
    fill(chartY, cols.map((c) => h("option", { value: c, selected: c === y }, c)));
    chartX.value = x;
    chartY.value = y;
    wanted = { x: "", y: "" };
    renderChart();
  }

  function renderChart() {
    const kind = chartKind.value;
    chartAxes.hidden = !kind;
    chartBox.hidden = !kind;
    results.hidden = Boolean(kind);
    chartInfo.textContent = "";
    keepInUrl();
    if (!kind || !lastAnswer) return;
    const width = Math.max(400, Math.min(1400, results.parentElement.clientWidth - 8));
    const drawn = drawChart(chartBox, lastAnswer, { kind, x: chartX.value, y: chartY.value, width });
    chartInfo.textContent = `${drawn.points.length} points${drawn.skipped ? ` (${drawn.skipped} rows without a number left out)` : ""}`;
  }
  for (const sel of [chartKind, chartX, chartY]) sel.addEventListener("change", renderChart);

  apiGet("/sql/schema").then(renderSchema).catch((err) => {
    fill(schemaPanel, h("pre", { class: "error" }, `Loading the views failed: ${err.message}`));
  });
  if (query.get("q")) run();

  return () => { generation++; };
}
