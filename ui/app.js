// The dashboard's entry point: a hash router over two views, the dispatch list (#/) and
// one dispatch (#/dispatches/<id>). Each view returns a function that releases what it
// holds (its live stream, timers, the graph) when the user navigates away.

import { listView } from "./list.js";
import { dispatchView } from "./dispatch.js";
import { sqlView } from "./sql.js";

const view = document.getElementById("view");
let dispose = null;

function route() {
  if (dispose) dispose();
  dispose = null;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const match = path.match(/^\/dispatches\/([A-Za-z0-9_.:-]+)$/);
  if (match) {
    document.title = `covalent-ray · ${match[1].slice(0, 8)}`;
    dispose = dispatchView(view, match[1]);
  } else if (path === "/sql") {
    document.title = "covalent-ray · SQL";
    dispose = sqlView(view, new URLSearchParams(query || ""));
  } else {
    document.title = "covalent-ray · dispatches";
    dispose = listView(view, new URLSearchParams(query || ""));
  }
}

window.addEventListener("hashchange", route);
// the vendored graph libraries load with `defer`; module scripts run after them
route();
