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

/** Every other point (and the last), so a long run stays cheap to draw. */
function thinned(history) {
  const keep = (series) => series.filter((_, k) => k % 2 === 0 || k === series.length - 1);
  const out = { ...history };
  for (const key of SCALARS) out[key] = keep(history[key]);
  for (const key of PER_LAYER) out[key] = history[key].map(keep);
  return out;
}
