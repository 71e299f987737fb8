// Reading a layer of a /trace answer (app/schemas.py LayerTraceModel), exactly as the server
// sends it. A value the server has not computed yet (dz before the backward pass, the update
// ratio before the first update) is null here, and views say so instead of drawing a number.

/** The server's word for a value that does not exist yet at this stage. */
export const NOT_YET = "not computed yet";

/** The (fan_in, fan_out) matrix `name` ("W" or "dW") of a trace layer, or null. */
export function layerMatrix(layer, name) {
  return layer?.[name] ?? null;
}

/** Mean activation of each neuron over the batch (`a_mean`), null before its forward stage. */
export function neuronMeanActivation(layer) {
  return layer?.a_mean ?? null;
}

/** Mean |dz| of each neuron over the batch (`dz_mean_abs`), null before its backward stage. */
export function neuronMeanAbsDz(layer) {
  return layer?.dz_mean_abs ?? null;
}

/** A per-layer statistic (grad_norm, mean_abs_dz, dead_fraction, …), or null. */
export function layerStat(layer, name) {
  return layer?.[name] ?? null;
}

/** `{counts, edges}` of the histogram of one array (W, z, a, dz, dW), or null when the layer
 * has no summary of it yet. The server sends equal bins from lo to hi. */
export function layerHistogram(layer, name) {
  const histogram = layer?.summaries?.[name]?.histogram;
  if (!histogram || histogram.lo === null || histogram.hi === null) return null;
  const { counts, lo, hi } = histogram;
  const edges = Array.from({ length: counts.length + 1 }, (_, k) => lo + (k * (hi - lo)) / counts.length);
  return { counts, edges };
}

/** A trace number as text: formatted when present; when null, why (after divergence a null
 * is a non-finite value, otherwise the stage that computes it has not run yet). */
export function traceText(trace, value, format) {
  if (value !== null && value !== undefined) return format(value);
  return trace?.diverged ? "n/a (diverged)" : NOT_YET;
}
