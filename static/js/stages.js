// Where a step is, in the order the server runs its stages (state.next names the next one):
//   forward layer 0 … L−1, loss, backward layer L−1 … 0, update.
// Views use this to say when a number they cannot show yet will appear ("press → 3 more
// times"), never to compute a number themselves.

/** Position of the last completed stage in the step program (idle = −1). */
export function stageIndex(sim) {
  const L = sim.n_layers;
  switch (sim.stage) {
    case "forward":
      return sim.layer;
    case "loss":
      return L;
    case "backward":
      return L + (L - sim.layer);
    case "update":
      return 2 * L + 1;
    default:
      return -1;
  }
}

/** Position of a stage (`{stage, layer}`) in the program. */
function indexOf(sim, stage, layer) {
  return stageIndex({ n_layers: sim.n_layers, stage, layer });
}

/** → presses until the stage `{stage, layer}` has run, counted from `sim` (0 = it has). A
 * completed step (stage "update") starts the next one: its stages are ahead again. */
export function pressesUntil(sim, stage, layer = null) {
  const target = indexOf(sim, stage, layer);
  const here = sim.stage === "update" ? -1 : stageIndex(sim);
  return Math.max(0, target - here);
}

/** Has this step's backward pass computed layer `layer`'s gradients? (A finished step has.) */
export function backwardReached(sim, layer) {
  return sim.stage === "update" || (sim.stage === "backward" && sim.layer <= layer);
}

/** Has this step's forward pass computed layer `layer` (its z and a)? */
export function forwardReached(sim, layer) {
  if (sim.stage === "idle") return false;
  return sim.stage !== "forward" || sim.layer >= layer;
}

/** Has this step's loss been computed? */
export function lossComputed(sim) {
  return sim.stage === "loss" || sim.stage === "backward" || sim.stage === "update";
}

/** "press → once" / "press → 3 more times". */
export function pressText(count) {
  return count === 1 ? "press → once more" : `press → ${count} more times`;
}
