// The training history as the loss chart and the heat strip draw it: /history rows, extended by
// the rows each stream frame carries. Every change returns a new object (the store's rule).
//
// While playing, every frame appends a few hundred rows to series thousands of rows long.
// Copying every series for every frame made the page allocate (and collect) about half a
// megabyte a frame, so a new history shares its series with the one it extends and appends to
// them in place. That is safe because the page only ever reads the newest history: an older
// object whose series have grown since is never extended again in place — its series are
// copied first (`owns`).

const MAX_LOCAL_HISTORY = 4000;
const SCALARS = ["step", "batch_loss", "evaluated", "train_loss", "test_loss", "train_accuracy", "test_accuracy"];
const PER_LAYER = ["grad_norm", "mean_abs_dz", "update_ratio"]; // [layer][point]

/** `history` followed by the frame's `rows` (rows since the previous frame; since 0 = all).
 * A binary frame's series are typed arrays: the history holds plain arrays. */
export function appendHistory(history, rows) {
  if (!rows.step.length) return history;
  if (!history || rows.since === 0) return plain(rows);
  // Rows the history already holds (an answer that raced a frame) are not added twice.
  const last = history.step[pointsOf(history) - 1];
  let from = 0;
  while (from < rows.step.length && rows.step[from] <= last) from++;
  if (from === rows.step.length) return history;
  const base = owns(history) ? history : copied(history);
  const merged = { ...base, total: rows.total };
  for (const key of SCALARS) push(merged[key], rows[key], from);
  for (const key of PER_LAYER) merged[key].forEach((series, l) => push(series, rows[key][l] ?? [], from));
  const result = merged.step.length > MAX_LOCAL_HISTORY ? thinned(merged) : merged;
  result.points = result.step.length;
  return result;
}

/** Rows in `history` (an answer of GET /history has no count of its own: all its rows). */
const pointsOf = (history) => history.points ?? history.step.length;

/** True when no newer history has appended to `history`'s series: it may grow them. */
function owns(history) {
  const n = pointsOf(history);
  return SCALARS.every((key) => history[key].length === n) && PER_LAYER.every((key) => history[key].every((series) => series.length === n));
}

function copied(history) {
  const n = pointsOf(history);
  const out = { ...history };
  for (const key of SCALARS) out[key] = history[key].slice(0, n);
  for (const key of PER_LAYER) out[key] = history[key].map((series) => series.slice(0, n));
  return out;
}

function push(series, values, from) {
  for (let k = from; k < values.length; k++) series.push(values[k]);
}

function plain(rows) {
  const out = { ...rows };
  for (const key of SCALARS) out[key] = Array.from(rows[key]);
  for (const key of PER_LAYER) out[key] = rows[key].map((series) => Array.from(series));
  out.points = out.step.length;
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
