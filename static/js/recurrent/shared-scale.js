// One log₁₀ scale for several panels that must be read against each other (the two setups of
// a recurrent comparison): their ‖∂L/∂h_t‖ bars, pulses and heat strips all draw on it, so a
// bar of the same height is the same gradient in A and in B. It only ever widens while the
// comparison lasts, so a bar never changes height because the other setup changed.

const MAX_DECADES = 12;

export class SharedLogScale {
  constructor() {
    this.lo = null;
    this.hi = null;
  }

  /** Widen to whole decades holding every positive finite value of `values`. */
  extend(values) {
    for (const v of values) {
      if (!(v > 0) || !Number.isFinite(v)) continue;
      const e = Math.log10(v);
      this.lo = this.lo === null ? Math.floor(e) : Math.min(this.lo, Math.floor(e));
      this.hi = this.hi === null ? Math.ceil(e + 1e-9) : Math.max(this.hi, Math.ceil(e + 1e-9));
    }
    return this;
  }

  /** {lo, hi} in log₁₀ units (at least two decades, at most MAX_DECADES: smaller values sit
   * at the bottom, below the scale), or null before any value arrived. */
  get scale() {
    if (this.hi === null) return null;
    const lo = Math.min(this.hi - 2, Math.max(this.lo, this.hi - MAX_DECADES));
    return { lo, hi: this.hi };
  }
}

/** "lo,hi": the scale as the panels write it in their data-scale attribute. */
export const scaleKey = (scale) => (scale ? `${scale.lo},${scale.hi}` : "");

/** Every ‖∂L/∂h_t‖ a run shows: its trace's timesteps and its history's rows. */
export function runGradientNorms(run) {
  const values = (run?.trace?.timesteps ?? []).map((step) => step.dh_norm);
  for (const row of run?.history?.dh_norm ?? []) values.push(...Array.from(row ?? []));
  return values;
}
