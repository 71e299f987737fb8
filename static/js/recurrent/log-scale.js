// A log₁₀ scale shared by the unrolled view, the heat strip and the Jacobian chart: whole
// decades from the smallest to the largest positive value shown, at most MAX_DECADES of them
// (smaller values sit at the bottom, marked as below the scale).

const MAX_DECADES = 12;

/** {lo, hi} in log₁₀ units spanning the positive finite `values` (null when there are none). */
export function decades(values, { atLeast = 2 } = {}) {
  const logs = values.filter((v) => Number.isFinite(v) && v > 0).map(Math.log10);
  if (!logs.length) return null;
  const hi = Math.ceil(Math.max(...logs) + 1e-9);
  let lo = Math.floor(Math.min(...logs));
  lo = Math.max(lo, hi - MAX_DECADES);
  if (hi - lo < atLeast) lo = hi - atLeast;
  return { lo, hi };
}

/** Position of `value` on the scale in [0, 1] (0 for zero or below the scale). */
export function position(scale, value) {
  if (!scale || !(value > 0) || !Number.isFinite(value)) return 0;
  return Math.min(1, Math.max(0, (Math.log10(value) - scale.lo) / (scale.hi - scale.lo)));
}

/** The decades to label: every one, or every 2nd/3rd/… so that at most `count` show. */
export function ticks(scale, count = 5) {
  if (!scale) return [];
  const every = Math.max(1, Math.ceil((scale.hi - scale.lo) / count));
  const out = [];
  for (let d = scale.hi; d >= scale.lo; d -= every) out.push(d);
  return out;
}

/** "1e-3", "1", "10" for the decade d. */
export function decadeLabel(d) {
  if (d === 0) return "1";
  if (d === 1) return "10";
  return `1e${d}`;
}
