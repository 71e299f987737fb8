// A recurrent session's training history as the heat strip and loss chart draw it: /history
// rows extended by each stream frame's rows (new objects on every change: the store's rule).
// Recurrent rows are flat per step; `dh_norm` is [row][t] (‖∂L/∂h_t‖ of that step).

const MAX_LOCAL_HISTORY = 4000;
const COLUMNS = ["step", "evaluated", "batch_loss", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "grad_norm", "clipped", "weight_grad_norm", "update_ratio", "dh_norm"];

export function appendRecurrentHistory(history, rows) {
  if (!rows?.step?.length) return history;
  // `points`: the rows the loss chart reads (a dense history's series may run on past them).
  if (!history || rows.since === 0) return { ...rows, points: rows.step.length };
  const merged = { ...history, total: rows.total };
  for (const key of COLUMNS) if (history[key] && rows[key]) merged[key] = history[key].concat(rows[key]);
  if (merged.step.length > MAX_LOCAL_HISTORY) {
    // Every other row (and the last): a long run stays cheap to hold and draw.
    const keep = (series) => series.filter((_, k) => k % 2 === 0 || k === series.length - 1);
    for (const key of COLUMNS) if (merged[key]) merged[key] = keep(merged[key]);
  }
  merged.points = merged.step.length;
  return merged;
}
