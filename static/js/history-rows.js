// The training history as the loss chart and the heat strip draw it: /history rows, extended by
// the rows each stream frame carries. Every change returns a new object (the store's rule).

const MAX_LOCAL_HISTORY = 4000;
const SCALARS = ["step", "batch_loss", "evaluated", "train_loss", "test_loss", "train_accuracy", "test_accuracy"];
const PER_LAYER = ["grad_norm", "mean_abs_dz", "update_ratio"]; // [layer][point]

/** `history` followed by the frame's `rows` (rows since the previous frame; since 0 = all).
 * A binary frame's series are typed arrays: the history holds plain arrays. */
export function appendHistory(history, rows) {
  if (!rows.step.length) return history;
  if (!history || rows.since === 0) return plain(rows);
  const merged = { ...history, total: rows.total };
  for (const key of SCALARS) merged[key] = history[key].concat(Array.from(rows[key]));
  for (const key of PER_LAYER) merged[key] = history[key].map((series, l) => series.concat(Array.from(rows[key][l] ?? [])));
  const result = merged.step.length > MAX_LOCAL_HISTORY ? thinned(merged) : merged;
  result.points = result.step.length;
  return result;
}

function plain(rows) {
  const out = { ...rows };
  for (const key of SCALARS) out[key] = Array.from(rows[key]);
  for (const key of PER_LAYER) out[key] = rows[key].map((series) => Array.from(series));
  return out;
}

/** Every other point (and the last), so a long run stays cheap to draw. Evaluated rows and
 * the others are halved apart: the full-data losses exist only at evaluated steps, and a
 * row count that happened to put them at odd places would thin them out of the run's start. */
function thinned(history) {
  const evaluated = history.evaluated;
  const last = history.step.length - 1;
  const seen = [0, 0]; // rows met so far that were not, and were, evaluated
  const kept = [];
  for (let k = 0; k <= last; k++) {
    const kind = evaluated?.[k] ? 1 : 0;
    if (seen[kind]++ % 2 === 0 || k === last) kept.push(k);
  }
  const keep = (series) => kept.map((k) => series[k]);
  const out = { ...history };
  for (const key of SCALARS) out[key] = keep(history[key]);
  for (const key of PER_LAYER) out[key] = history[key].map(keep);
  return out;
}
