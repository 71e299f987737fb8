// Timesteps × training steps: ‖∂L/∂h_t‖ of every step in the history (`dh_norm`), one column
// per step (or per group of steps once there are more steps than pixels: the group's last
// step), one row per timestep (t = 0 at the top), on a log colour scale with a legend.

import { setText } from "../dom.js";
import { decadeLabel, decades, position, ticks } from "./log-scale.js";

const MAX_ROW_PX = 6;
const MIN_ROW_PX = 2;

/** Dark (small gradient) to bright (large), readable in greyscale too. */
function colour(p) {
  const r = Math.round(20 + 230 * p);
  const g = Math.round(24 + 170 * p * p);
  const b = Math.round(90 + 60 * (1 - p));
  return `rgb(${r},${g},${b})`;
}

export class HeatStrip {
  /** `scale()`: a log scale shared with other panels ({lo, hi}), else one fitted to the rows. */
  constructor(root, { scale = null } = {}) {
    this.sharedScale = scale;
    this.canvas = root.querySelector(".rnn-strip");
    this.legend = root.querySelector(".rnn-strip-legend");
    this.caption = root.querySelector(".rnn-strip-caption");
    this.drawn = null;
  }

  update(state) {
    const history = state.history;
    const trace = state.trace;
    if (trace?.model !== "recurrent") return;
    const width = this.canvas.parentElement.clientWidth || 300;
    const rows = history?.dh_norm ?? [];
    // Rows may be typed arrays (binary frames), which Array.prototype.flat leaves whole.
    const scale = this.sharedScale?.() ?? decades(rows.flatMap((row) => Array.from(row ?? [])));
    const scaleKey = scale ? `${scale.lo},${scale.hi}` : "";
    if (this.drawn && this.drawn.history === history && this.drawn.width === width && this.drawn.scaleKey === scaleKey) return;
    this.drawn = { history, width, scaleKey };
    this.canvas.dataset.scale = scaleKey;
    const T = trace.n_timesteps;
    const rowPx = Math.max(MIN_ROW_PX, Math.min(MAX_ROW_PX, Math.floor(160 / T)));
    const height = T * rowPx;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#f3f4f6";
    ctx.fillRect(0, 0, width, height);
    const columns = Math.min(rows.length, width);
    const colPx = columns ? width / Math.max(columns, 60) : 0;
    for (let c = 0; c < columns; c++) {
      // With more steps than pixels each column shows the last step of its group.
      const k = rows.length <= width ? c : Math.round(((c + 1) * rows.length) / columns) - 1;
      const row = rows[k] ?? [];
      for (let t = 0; t < T; t++) {
        const v = row[t];
        // null (JSON) or NaN (a binary frame's float32): not computed there.
        ctx.fillStyle = v === null || v === undefined || Number.isNaN(v) ? "#e5e7eb" : colour(position(scale, v));
        ctx.fillRect(c * colPx, t * rowPx, Math.ceil(colPx), rowPx);
      }
    }
    this.canvas.dataset.columns = String(columns);
    this.canvas.dataset.rows = String(rows.length);
    this.drawLegend(scale);
    const steps = history?.step ?? [];
    setText(
      this.caption,
      rows.length
        ? `rows: t = 0 (top) … ${T - 1}; columns: training steps ${steps[0]} … ${steps[steps.length - 1]}${rows.length > columns ? ` (${columns} columns of ${rows.length} steps, each the last of its group)` : ""}. Grey: not computed.`
        : "Fills as training runs: one column per training step.",
    );
  }

  drawLegend(scale) {
    this.legend.replaceChildren();
    if (!scale) return;
    const bar = document.createElement("span");
    bar.className = "rnn-legend-bar";
    bar.style.background = `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map(colour).join(", ")})`;
    const low = document.createElement("span");
    low.textContent = `≤ ${decadeLabel(scale.lo)}`;
    const high = document.createElement("span");
    high.textContent = decadeLabel(scale.hi);
    this.legend.append("‖∂L/∂h_t‖, log scale: ", low, bar, high);
    this.legend.dataset.decades = ticks(scale, 99).join(",");
  }
}
