// Group nodes of a large graph (the server aggregates repeated electrons of one function,
// see core/graph_groups.py): what a group shows, and how the live stream's per-electron
// changes update its counts. Pure functions over the API's group objects; no DOM.

const DONE = new Set(["COMPLETED"]);
const BROKEN = new Set(["FAILED", "POSTPROCESSING_FAILED"]);
const ACTIVE = new Set(["STARTING", "RUNNING", "DISPATCHING", "POSTPROCESSING", "PENDING_REUSE"]);

/**
 * The one status a group is coloured by: FAILED if any member failed, CANCELLED if any
 * was cancelled, COMPLETED once all completed, RUNNING while any runs or some have
 * completed, else NEW_OBJECT (none started).
 */
export function groupStatus(counts) {
  let total = 0;
  let done = 0;
  let active = 0;
  for (const [status, n] of Object.entries(counts)) {
    if (!n) continue;
    if (BROKEN.has(status)) return "FAILED";
    total += n;
    if (DONE.has(status)) done += n;
    if (ACTIVE.has(status)) active += n;
  }
  if (counts.CANCELLED) return "CANCELLED";
  if (total && done === total) return "COMPLETED";
  if (active || done) return "RUNNING";
  return "NEW_OBJECT";
}

/** "inc ×10000" and a second line of counts: "9990 completed · 10 running". */
export function groupLabel(group) {
  const parts = Object.entries(group.counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${n} ${s.toLowerCase().replaceAll("_", " ")}`);
  return `${group.name} ×${group.size}\n${parts.join(" · ")}`;
}

/**
 * Which group each member belongs to, to apply {node_id, status} changes to the groups'
 * counts. `apply` answers the group it changed (or null: not a member, or no change).
 */
export class GroupIndex {
  constructor(groups) {
    this.groups = new Map();
    this.memberOf = new Map();
    for (const g of groups) {
      const state = { ...g, counts: { ...g.counts }, statuses: [...g.statuses], at: new Map() };
      g.members.forEach((m, i) => {
        this.memberOf.set(m, state);
        state.at.set(m, i);
      });
      this.groups.set(g.id, state);
    }
  }

  group(id) {
    return this.groups.get(id) || null;
  }

  apply(change) {
    const g = this.memberOf.get(change.node_id);
    if (!g) return null;
    const i = g.at.get(change.node_id);
    const before = g.statuses[i];
    if (before === change.status) return null;
    g.statuses[i] = change.status;
    g.counts[before] = (g.counts[before] || 1) - 1;
    if (!g.counts[before]) delete g.counts[before];
    g.counts[change.status] = (g.counts[change.status] || 0) + 1;
    return g;
  }
}
