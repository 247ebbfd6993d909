// Small DOM and formatting helpers. Every piece of user data (names, values, logs) goes
// into the page as text nodes, never as HTML, so a workflow cannot inject markup.

/** Create an element: h("td", {class: "x", onclick: f}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace the children of `el` (arrays flattened; null, undefined and false skipped). */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function badge(status) {
  return h("span", { class: `badge ${status}`, "data-status": status }, status.replaceAll("_", " "));
}

export function formatTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Duration of something with a start and maybe an end (running: until now). */
export function elapsed(start, end) {
  if (!start) return null;
  const stop = end ? new Date(end) : new Date();
  return Math.max(0, (stop - new Date(start)) / 1000);
}

export function toast(message, isError = false) {
  const el = h("div", { class: `toast${isError ? " error" : ""}`, role: "status" }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), isError ? 8000 : 4000);
}

/** A <pre> showing a stored value's readable text (or a placeholder). */
export function valueBlock(value, empty = "none") {
  if (!value || value.text === null || value.text === undefined) {
    return h("pre", { class: "empty" }, empty);
  }
  return h("pre", {}, value.text);
}

export function textBlock(text, { empty = "empty", error = false } = {}) {
  if (text === null || text === undefined || text === "") return h("pre", { class: "empty" }, empty);
  return h("pre", { class: error ? "error" : "" }, text);
}

/** Run `fn` at most once per `ms`, trailing call included. */
export function throttle(fn, ms) {
  let timer = null;
  let pending = false;
  return (...args) => {
    if (timer) {
      pending = true;
      return;
    }
    fn(...args);
    timer = setTimeout(function tick() {
      timer = null;
      if (pending) {
        pending = false;
        fn(...args);
        timer = setTimeout(tick, ms);
      }
    }, ms);
  };
}
