// Status values and their colours (the same as the --s-* variables of style.css).

export const STATUS_COLORS = {
  NEW_OBJECT: "#9aa5b1",
  STARTING: "#74c0fc",
  PENDING_REUSE: "#74c0fc",
  RUNNING: "#3b82f6",
  DISPATCHING: "#7c5cdb",
  POSTPROCESSING: "#14b8a6",
  COMPLETED: "#22a06b",
  FAILED: "#e03131",
  CANCELLED: "#f08c00",
  POSTPROCESSING_FAILED: "#a61e4d",
};

// the status names and which of them are final come from the server's Status enum
export { STATUSES, TERMINAL } from "./statuses.js";
