// Several sessions driven by one transport (compare mode, lessons): what each one does for an
// action, so that they move in lockstep. Networks of one depth move stage for stage; when one
// is shallower it waits at the end of a pass until the deeper one gets there.

const ORDER = { forward: 0, loss: 1, backward: 2, update: 3 };

/** The stage a group runs next: the earliest of the sessions' next stages. */
export function groupNext(sims) {
  const stages = sims.filter(Boolean).map((sim) => sim.next);
  if (!stages.length) return null;
  return stages.reduce((first, next) => (ORDER[next.stage] < ORDER[first.stage] ? next : first));
}

/**
 * The server call one session makes for a transport `action` (forward, loss, backward, update,
 * step, reset), or null when it waits for the others: a session past its forward pass does
 * not start the next step on "forward", nor one past its backward pass run the update on
 * "backward". Update, step and reset act on every session.
 */
export function callFor(action, sim) {
  const next = sim?.next?.stage;
  if (action === "forward") return next === "forward" ? "forward" : null;
  if (action === "loss") return next === "loss" ? "loss" : null;
  if (action === "backward") return next === "update" ? null : "backward";
  return action;
}
