// Reading per-layer arrays out of a /trace response. Kept in one place so the views agree on
// what "the weights of layer l" or "mean |dz| of neuron j" means.

/** The (fan_in, fan_out) matrix `name` ("W" or "dW") of a trace layer, or null. */
export function layerMatrix(layer, name) {
  const value = layer?.[name] ?? layer?.arrays?.[name];
  return Array.isArray(value) && Array.isArray(value[0]) ? value : null;
}

function columnMeans(matrix, transform) {
  if (!Array.isArray(matrix) || !Array.isArray(matrix[0])) return null;
  const sums = new Array(matrix[0].length).fill(0);
  let rows = 0;
  for (const row of matrix) {
    rows += 1;
    for (let j = 0; j < row.length; j++) sums[j] += transform(row[j] ?? Number.NaN);
  }
  return sums.map((s) => s / rows);
}

/** Mean activation of each neuron over the batch (for lighting neurons in the forward pass). */
export function neuronMeanActivation(layer) {
  if (Array.isArray(layer?.a_mean)) return layer.a_mean;
  if (Array.isArray(layer?.neurons?.a_mean)) return layer.neurons.a_mean;
  return columnMeans(layer?.a ?? layer?.arrays?.a, (v) => v);
}

/** Mean |dz| of each neuron over the batch (sizes the backward pulses), or null. */
export function neuronMeanAbsDz(layer) {
  if (Array.isArray(layer?.dz_mean_abs)) return layer.dz_mean_abs;
  if (Array.isArray(layer?.mean_abs_dz_per_neuron)) return layer.mean_abs_dz_per_neuron;
  if (Array.isArray(layer?.neurons?.dz_mean_abs)) return layer.neurons.dz_mean_abs;
  const fromBatch = columnMeans(layer?.dz ?? layer?.arrays?.dz, Math.abs);
  if (fromBatch) return fromBatch;
  const mean = layer?.mean_abs_dz;
  return typeof mean === "number" ? new Array(layer.fan_out).fill(mean) : null;
}

/** A named statistic of a layer: top-level field first, then summaries. */
export function layerStat(layer, name) {
  const value = layer?.[name] ?? layer?.stats?.[name];
  return typeof value === "number" ? value : null;
}

/** `{counts, edges}` histogram of one array (z, a, dz, dW, W) of a layer, or null. */
export function layerHistogram(layer, name) {
  const summary = layer?.summaries?.[name] ?? layer?.summary?.[name];
  const histogram = summary?.histogram;
  if (!histogram) return null;
  if (Array.isArray(histogram)) return { counts: histogram[0], edges: histogram[1] };
  if (histogram.edges) return histogram;
  // Equal bins from lo to hi: edge k = lo + k·(hi − lo)/bins.
  const { counts, lo, hi } = histogram;
  if (!counts?.length || lo === null || hi === null || lo === undefined) return null;
  const edges = Array.from({ length: counts.length + 1 }, (_, k) => lo + (k * (hi - lo)) / counts.length);
  return { counts, edges };
}

