// Generated from covalent_ray/_status.py by `python -m covalent_ray._status`: do not edit.

export const STATUSES = ["NEW_OBJECT", "STARTING", "PENDING_REUSE", "RUNNING", "DISPATCHING", "POSTPROCESSING", "COMPLETED", "FAILED", "CANCELLED", "POSTPROCESSING_FAILED"];
export const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "POSTPROCESSING_FAILED"]);
