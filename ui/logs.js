// The service's log (#/logs): its last lines, then new ones as the service writes them
// (a stream of the API's /logs/stream), and a download of the whole file. Lines are
// text; at most MAX_LINES stay on the page.

import { apiDownload, apiGet, followStream } from "./api.js";
import { fill, h, toast } from "./dom.js";

const MAX_LINES = 5000;

export function logsView(root, query = new URLSearchParams()) {
  const initial = /^\d+$/.test(query.get("lines") || "") ? Math.min(10000, Math.max(1, Number(query.get("lines")))) : 500;
  const pre = h("pre", { class: "log", id: "log-text" });
  const followBox = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const filter = h("input", { type: "search", id: "log-filter", placeholder: "Show lines containing…", "aria-label": "Filter lines" });
  const state = h("span", { class: "muted", id: "log-state" }, "loading…");
  const pathInfo = h("code", { id: "log-path" });
  const downloadBtn = h("button", { id: "log-download", onclick: () => download() }, "Download");
  fill(root, h("div", { class: "page logs" },
    h("div", { class: "page-head" }, h("h1", {}, "Service log"),
      h("label", { title: "Keep showing lines as the service writes them" }, followBox, " follow"),
      filter, downloadBtn, state),
    h("p", { class: "muted" }, pathInfo),
    pre));
  let lines = [];
  let stop = null;
  let disposed = false;
  let offset = 0;

  function render() {
    const q = filter.value;
    const shown = q ? lines.filter((l) => l.includes(q)) : lines;
    pre.textContent = shown.join("\n");
    pre.dataset.lines = String(shown.length);
  }

  function add(text) {
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
    const fresh = text.replace(/\n$/, "").split("\n");
    lines.push(...fresh);
    if (lines.length > MAX_LINES) lines = lines.slice(-MAX_LINES);
    render();
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  }

  function follow(on) {
    if (stop) stop();
    stop = null;
    if (!on) {
      state.textContent = "not following";
      pre.dataset.following = "false";
      return;
    }
    stop = followStream("/logs/stream", { offset }, (event, data) => {
      if (event === "ready") {
        state.textContent = "following";
        pre.dataset.following = "true";
      } else if (event === "lines") {
        offset = data.offset;
        add(data.text);
      } else if (event === "disconnected") {
        state.textContent = "reconnecting…";
      }
    });
  }

  async function download() {
    try {
      await apiDownload("/logs/download", "service.log");
    } catch (err) {
      toast(`Downloading the log failed: ${err.message}`, true);
    }
  }

  (async () => {
    let tail;
    try {
      tail = await apiGet("/logs", { lines: initial });
    } catch (err) {
      state.textContent = `reading the log failed: ${err.message}`;
      return;
    }
    if (disposed) return;
    pathInfo.textContent = tail.path;
    offset = tail.offset;
    if (!tail.exists) pre.classList.add("empty");
    if (tail.text) add(tail.text);
    else render();
    pre.scrollTop = pre.scrollHeight;
    pre.dataset.ready = "true";
    follow(followBox.checked);
  })();
  followBox.addEventListener("change", () => follow(followBox.checked));
  filter.addEventListener("input", render);
  return () => {
    disposed = true;
    if (stop) stop();
  };
}
