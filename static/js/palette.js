// Colour ramps written out by hand (no third-party scales).
//
// Diverging: orange for negative, near-white for zero, blue for positive. Orange/blue stays
// distinguishable under the common colour-vision deficiencies (protan, deutan, tritan),
// unlike red/green. Stops follow the ColorBrewer PuOr/RdBu lightness progression so equal
// steps in value read as equal steps in lightness on both sides of zero.

const DIVERGING_STOPS = [
  [-1.0, [179, 88, 6]],
  [-0.75, [224, 130, 20]],
  [-0.5, [253, 184, 99]],
  [-0.25, [254, 224, 182]],
  [0.0, [247, 247, 247]],
  [0.25, [209, 229, 240]],
  [0.5, [146, 197, 222]],
  [0.75, [67, 147, 195]],
  [1.0, [33, 102, 172]],
];

// Sequential (low → high), for magnitudes such as log ‖dW‖: pale yellow to deep blue-purple,
// monotonic in lightness so it also prints legibly in greyscale.
const SEQUENTIAL_STOPS = [
  [0.0, [255, 255, 217]],
  [0.2, [199, 233, 180]],
  [0.4, [127, 205, 187]],
  [0.6, [65, 182, 196]],
  [0.8, [34, 94, 168]],
  [1.0, [37, 52, 148]],
];

// Categorical colours for multiclass points (Okabe–Ito, designed for colour-blind readers).
export const CLASS_COLOURS = [
  [230, 159, 0],
  [0, 114, 178],
  [0, 158, 115],
  [204, 121, 167],
  [86, 180, 233],
  [213, 94, 0],
  [240, 228, 66],
];

function interpolate(stops, t) {
  if (!(t > stops[0][0])) return stops[0][1];
  for (let k = 1; k < stops.length; k++) {
    const [t1, c1] = stops[k];
    if (t <= t1) {
      const [t0, c0] = stops[k - 1];
      const f = (t - t0) / (t1 - t0);
      return [0, 1, 2].map((i) => Math.round(c0[i] + f * (c1[i] - c0[i])));
    }
  }
  return stops[stops.length - 1][1];
}

function buildTable(stops, from, to) {
  // 256 entries, packed RGB, so per-pixel lookups in heatmaps cost one array read.
  const table = new Uint8ClampedArray(256 * 3);
  for (let k = 0; k < 256; k++) {
    const rgb = interpolate(stops, from + ((to - from) * k) / 255);
    table.set(rgb, k * 3);
  }
  return table;
}

/** Diverging lookup table indexed by round((v + 1) / 2 * 255) for v in [-1, 1]. */
export const DIVERGING_TABLE = buildTable(DIVERGING_STOPS, -1, 1);
/** Sequential lookup table indexed by round(t * 255) for t in [0, 1]. */
export const SEQUENTIAL_TABLE = buildTable(SEQUENTIAL_STOPS, 0, 1);

const clamp = (x, lo, hi) => (x < lo ? lo : x > hi ? hi : x);

/** CSS colour for v in [-1, 1] (clamped) on the diverging ramp. */
export function diverging(v) {
  const k = Math.round(((clamp(Number.isFinite(v) ? v : 0, -1, 1) + 1) / 2) * 255) * 3;
  const t = DIVERGING_TABLE;
  return `rgb(${t[k]},${t[k + 1]},${t[k + 2]})`;
}

/** CSS colour for t in [0, 1] (clamped) on the sequential ramp. */
export function sequential(t) {
  const k = Math.round(clamp(Number.isFinite(t) ? t : 0, 0, 1) * 255) * 3;
  const s = SEQUENTIAL_TABLE;
  return `rgb(${s[k]},${s[k + 1]},${s[k + 2]})`;
}

export function classColour(k) {
  const [r, g, b] = CLASS_COLOURS[k % CLASS_COLOURS.length];
  return `rgb(${r},${g},${b})`;
}

/** Colours of negative and positive ends, for legends and edge strokes. */
export const NEGATIVE = diverging(-0.9);
export const POSITIVE = diverging(0.9);
