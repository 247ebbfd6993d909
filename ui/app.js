// The dashboard's entry point: a hash router over its views, the dispatch list (#/),
// one dispatch (#/dispatches/<id>), two side by side (#/compare/<a>/<b>), a lattice's
// graph from `lattice.draw()` (#/preview/<id>), the SQL console (#/sql), the settings
// (#/settings) and the service's log (#/logs). Each view
// returns a function that releases what it holds (its live stream, timers, the graph)
// when the user navigates away.

import { listView } from "./list.js";
import { dispatchView } from "./dispatch.js";
import { sqlView } from "./sql.js";
import { compareView } from "./compare.js";
import { settingsView } from "./settings.js";
import { logsView } from "./logs.js";
import { previewView } from "./preview.js";
import "./triggers.js"; // the triggers section of a dispatch page (mounts itself)

const view = document.getElementById("view");
let dispose = null;

function route() {
  if (dispose) dispose();
  dispose = null;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const match = path.match(/^\/dispatches\/([A-Za-z0-9_.:-]+)$/);
  const pair = path.match(/^\/compare\/([A-Za-z0-9_.:-]+)\/([A-Za-z0-9_.:-]+)$/);
  const preview = path.match(/^\/preview\/([0-9a-f]{32})$/);
  if (preview) {
    document.title = "covalent-ray · preview";
    dispose = previewView(view, preview[1]);
  } else if (pair) {
    document.title = `covalent-ray · ${pair[1].slice(0, 8)} vs ${pair[2].slice(0, 8)}`;
    dispose = compareView(view, pair[1], pair[2], new URLSearchParams(query || ""));
  } else if (match) {
    document.title = `covalent-ray · ${match[1].slice(0, 8)}`;
    dispose = dispatchView(view, match[1], new URLSearchParams(query || ""));
  } else if (path === "/sql") {
    document.title = "covalent-ray · SQL";
    dispose = sqlView(view, new URLSearchParams(query || ""));
  } else if (path === "/settings") {
    document.title = "covalent-ray · settings";
    dispose = settingsView(view);
  } else if (path === "/logs") {
    document.title = "covalent-ray · log";
    dispose = logsView(view, new URLSearchParams(query || ""));
  } else {
    document.title = "covalent-ray · dispatches";
    dispose = listView(view, new URLSearchParams(query || ""));
  }
}

window.addEventListener("hashchange", route);
// the vendored graph libraries load with `defer`; module scripts run after them
route();
