// Talking to the covalent-ray REST API: JSON requests and the live event stream.
//
// The API token comes in the login link that `covalent-ray start` prints
// (`http://127.0.0.1:PORT/#token=...`: a fragment never reaches the server or its logs).
// It is kept in sessionStorage (this tab, until it closes), removed from the address bar
// at once, and sent as an Authorization header. The live stream is read with fetch rather
// than EventSource, because EventSource cannot send headers: the token would otherwise
// have to travel in the URL, where proxies and logs keep it.

const API = "api/v1";
const TOKEN_KEY = "covalent-ray-api-token";

// Runs before the router reads the address (app.js imports this module first).
(function takeTokenFromAddress() {
  const m = location.hash.match(/^#token=([^&]*)&?(.*)$/);
  localStorage.removeItem(TOKEN_KEY); // older dashboards kept it there, for good
  if (!m) return;
  if (m[1]) sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  const rest = m[2] ? `#${m[2]}` : "#/";
  history.replaceState(history.state, "", location.pathname + location.search + rest);
})();

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let askingToken = null;

/** Ask the user for the API token once (concurrent 401s share one dialog). */
function askToken() {
  if (askingToken) return askingToken;
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  askingToken = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
      askingToken = null;
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return askingToken;
}

function url(path, params) {
  const u = new URL(`${API}${path}`, document.baseURI);
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, item);
  }
  return u;
}

async function request(method, path, { params, body } = {}) {
  for (let tries = 0; ; tries++) {
    const headers = { Accept: "application/json", ...authHeaders() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(url(path, params), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && tries < 3) {
      await askToken();
      continue;
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const detail = typeof data.detail === "string" ? data.detail
        : JSON.stringify(data.detail ?? res.statusText);
      throw new ApiError(res.status, detail);
    }
    return data;
  }
}

export const apiGet = (path, params) => request("GET", path, { params });
export const apiPost = (path, body) => request("POST", path, { body: body ?? {} });
export const apiDelete = (path) => request("DELETE", path);

function setLive(on) {
  const el = document.getElementById("live");
  if (!el) return;
  el.classList.toggle("on", on);
  el.textContent = on ? "live" : "offline";
}

/**
 * Follow the server's status changes. `onEvent(name, data)` gets "ready", "changes" and
 * "resync" events; after a dropped connection the stream resumes from the last event
 * seen (Last-Event-ID), so no change is missed. Returns a function that stops it.
 */
export function subscribe(params, onEvent) {
  const stop = streamEvents("/events", params, onEvent, setLive);
  return () => {
    stop();
    setLive(false);
  };
}

/**
 * Follow a server-sent event stream other than /events (the service's log):
 * `onEvent(name, data)` for each event; after a dropped connection it resumes from the
 * last event id seen. Returns a function that stops it.
 */
export function followStream(path, params, onEvent) {
  return streamEvents(path, params, onEvent, (live) => {
    if (!live) onEvent("disconnected", {});
  });
}

/**
 * Read the server-sent event stream at `path` with the API token (EventSource cannot
 * send it): `onEvent(name, data)` for each event, `onLive(true|false)` as the connection
 * opens and drops; after a drop it resumes from the last event id seen (Last-Event-ID).
 * Returns a function that stops it.
 */
function streamEvents(path, params, onEvent, onLive) {
  let stopped = false;
  let lastId = null;
  let controller = null;

  function dispatch(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") lastId = value;
    }
    if (!data.length) return;
    try {
      onEvent(event, JSON.parse(data.join("\n")));
    } catch (err) {
      console.error("live event handler failed", err);
    }
  }

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { Accept: "text/event-stream", ...authHeaders() };
        if (lastId !== null) headers["Last-Event-ID"] = lastId;
        const res = await fetch(url(path, params), {
          headers, signal: controller.signal, cache: "no-store",
        });
        if (res.status === 401) {
          await askToken();
          continue;
        }
        if (!res.ok) throw new ApiError(res.status, res.statusText);
        onLive(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      onLive(false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

/** A file from the API saved by the browser (the token travels as a header, not in the URL). */
export async function apiDownload(path, filename) {
  for (let tries = 0; ; tries++) {
    const res = await fetch(url(path), { headers: authHeaders(), cache: "no-store" });
    if (res.status === 401 && tries < 3) {
      await askToken();
      continue;
    }
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new ApiError(res.status, typeof data.detail === "string" ? data.detail : res.statusText);
    }
    const blob = await res.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    return;
  }
}
