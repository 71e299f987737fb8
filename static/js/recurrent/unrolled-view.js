// The recurrent network unrolled in time: one cell per timestep, x_t below, the output above
// where the head reads it. Forward lights the cells left to right, one per press; backward
// sends pulses back through time, each sized by ‖∂L/∂h_t‖ on a log scale (drawn again as bars
// with a labelled log axis underneath). Dashed, scissored edges are where truncated BPTT cuts.
// With up to 100 timesteps the columns shrink to a minimum width, then the diagram scrolls
// and only every k-th timestep is labelled.

import { svg } from "../dom.js";
import { fmt } from "../format.js";
import { decadeLabel, decades, position, ticks } from "./log-scale.js";

const LEFT = 52; // room for the log axis labels
const RIGHT = 10;
const MIN_COL = 16;
const MAX_COL = 72;
const ROWS = Object.freeze({ out: 16, cell: 64, x: 112, axis: 134, bars: 158, barsHeight: 64 });
const AXIS_TITLE = "‖∂L/∂h_t‖ per timestep, log scale (pulses use the same scale)";
const LABEL_STEPS = [1, 2, 5, 10, 20, 25, 50];

/** Timestep t of the trace has run its forward stage (its h exists) / its backward stage. */
export const forwardDone = (step) => Array.isArray(step?.h);
export const backwardDone = (step) => step?.dh_norm !== null && step?.dh_norm !== undefined;

export class UnrolledView {
  /**
   * `scale()`: a log scale shared with other panels ({lo, hi}, see shared-scale.js), else the
   * view fits one to its own trace; `minCol`: the narrowest column before the diagram scrolls.
   */
  constructor(root, { onSelectTimestep, scale = null, minCol = MIN_COL, axisTitle = AXIS_TITLE }) {
    this.root = root;
    this.axisTitle = axisTitle;
    this.sharedScale = scale;
    this.minCol = minCol;
    this.rows = { ...ROWS };
    this.height = ROWS.bars + ROWS.barsHeight + 18;
    this.scroller = root.querySelector(".rnn-scroll");
    this.svg = root.querySelector(".rnn-svg");
    this.readout = root.querySelector(".rnn-readout");
    this.onSelect = onSelectTimestep;
    this.drawn = null;
    this.svg.addEventListener("click", (event) => {
      const cell = event.target.closest?.("[data-t]");
      if (cell) this.onSelect(Number(cell.dataset.t));
    });
    this.svg.addEventListener("keydown", (event) => this.onKey(event));
    // The row labels and the log axis stay in view while the timesteps scroll under them.
    this.scroller.addEventListener("scroll", () => this.pinAxis());
  }

  pinAxis() {
    this.svg.querySelector(".rnn-fixed")?.setAttribute("transform", `translate(${this.scroller.scrollLeft},0)`);
  }

  onKey(event) {
    const T = this.drawn?.T;
    if (!T) return;
    const t = this.drawn.selected ?? 0;
    const moves = { ArrowRight: t + 1, ArrowLeft: t - 1, Home: 0, End: T - 1 };
    if (!(event.key in moves)) return;
    // ← and → move between timesteps here, not through the training stages.
    event.preventDefault();
    this.onSelect(Math.max(0, Math.min(T - 1, moves[event.key])));
  }

  update(state) {
    const trace = state.trace;
    if (trace?.model !== "recurrent") return;
    const width = this.scroller.clientWidth || 600;
    const selected = state.timestep;
    const scale = this.sharedScale?.() ?? decades(trace.timesteps.map((s) => s.dh_norm));
    const scaleKey = scale ? `${scale.lo},${scale.hi}` : "";
    if (this.drawn && this.drawn.trace === trace && this.drawn.width === width && this.drawn.selected === selected && this.drawn.scaleKey === scaleKey) return;
    const T = trace.n_timesteps;
    // The bars take the height the panel has to give (a taller axis reads decades better).
    const rows = this.rows;
    rows.barsHeight = Math.max(56, Math.min(220, (this.scroller.clientHeight || 0) - rows.bars - 30));
    this.height = rows.bars + rows.barsHeight + 18;
    const col = Math.max(this.minCol, Math.min(MAX_COL, Math.floor((width - LEFT - RIGHT) / T)));
    const total = LEFT + T * col + RIGHT;
    this.svg.setAttribute("width", String(total));
    this.svg.setAttribute("height", String(this.height));
    this.svg.setAttribute("viewBox", `0 0 ${total} ${this.height}`);
    this.svg.dataset.scale = scaleKey;
    this.svg.replaceChildren(...this.draw(trace, col, selected, scale));
    this.pinAxis();
    this.describe(trace, selected);
    const current = trace.stage === "forward" || trace.stage === "backward" ? trace.stage_timestep : null;
    if (current !== null && current !== undefined && current !== this.drawn?.current) this.reveal(current, col);
    this.drawn = { trace, width, selected, T, current, scaleKey };
  }

  /** Keep the timestep being stepped on screen when the diagram scrolls. */
  reveal(t, col) {
    const left = LEFT + t * col;
    const view = this.scroller;
    if (left < view.scrollLeft + LEFT || left + col > view.scrollLeft + view.clientWidth) {
      view.scrollLeft = Math.max(0, left - view.clientWidth / 2);
    }
  }

  draw(trace, col, selected, scale) {
    const T = trace.n_timesteps;
    const steps = trace.timesteps;
    const ROWS = this.rows;
    const HEIGHT = this.height;
    const cx = (t) => LEFT + t * col + col / 2;
    const size = Math.min(col - 6, 40);
    const every = LABEL_STEPS.find((k) => (k * col) >= 30) ?? 50;
    const stage = trace.stage;
    const current = stage === "forward" || stage === "backward" ? trace.stage_timestep : null;
    const nodes = [];
    const reads = (t) => trace.head_mode === "every" || t === T - 1;
    // Recurrent edges h_{t−1} → h_t; cut ones (truncated BPTT) dashed with scissors.
    for (let t = 1; t < T; t++) {
      const cut = steps[t].cut;
      const lit = forwardDone(steps[t]);
      const pulse = backwardDone(steps[t]) && !cut;
      nodes.push(svg("line", {
        class: `rnn-edge${lit ? " is-lit" : ""}${cut ? " is-cut" : ""}${pulse ? " is-back" : ""}`,
        x1: cx(t - 1) + size / 2, y1: ROWS.cell, x2: cx(t) - size / 2, y2: ROWS.cell,
      }));
      if (cut) nodes.push(svg("text", { class: "rnn-cut", x: (cx(t - 1) + cx(t)) / 2, y: ROWS.cell - size / 2 - 3, "text-anchor": "middle" }, "✂", svg("title", {}, `truncated BPTT: backward does not pass from t = ${t} to t = ${t - 1}`)));
    }
    for (let t = 0; t < T; t++) {
      const step = steps[t];
      const lit = forwardDone(step);
      const back = backwardDone(step);
      const classes = ["rnn-cell"];
      if (lit) classes.push("is-lit");
      if (back) classes.push("is-back");
      if (t === current) classes.push(`is-current is-${stage}`);
      if (t === selected) classes.push("is-selected");
      const label = `t = ${t}: ${lit ? "forward done" : "forward not yet run"}${back ? `, ‖∂L/∂h_${t}‖ = ${fmt(step.dh_norm)}` : ""}`;
      const group = svg("g", { class: classes.join(" "), "data-t": t, "data-lit": lit ? "1" : "0", "data-back": back ? "1" : "0" }, svg("title", {}, label));
      // A transparent column under the whole timestep: an easy click target at any width.
      group.append(svg("rect", { class: "rnn-hit", x: LEFT + t * col, y: 0, width: col, height: HEIGHT }));
      group.append(svg("line", { class: "rnn-in", x1: cx(t), y1: ROWS.x - 6, x2: cx(t), y2: ROWS.cell + size / 2 }));
      group.append(svg("rect", { class: "rnn-box", x: cx(t) - size / 2, y: ROWS.cell - size / 2, width: size, height: size, rx: 5 }));
      if (size >= 26) group.append(svg("text", { class: "rnn-h", x: cx(t), y: ROWS.cell + 4, "text-anchor": "middle" }, "h"));
      group.append(svg("rect", { class: "rnn-x", x: cx(t) - 5, y: ROWS.x - 6, width: 10, height: 10, rx: 2 }));
      if (reads(t)) {
        group.append(svg("line", { class: "rnn-out", x1: cx(t), y1: ROWS.cell - size / 2, x2: cx(t), y2: ROWS.out + 6 }));
        group.append(svg("circle", { class: "rnn-y", cx: cx(t), cy: ROWS.out, r: 5 }));
      }
      // The backward pulse: its radius follows log ‖∂L/∂h_t‖ on the same scale as the bars.
      if (back && step.dh_norm > 0) {
        group.append(svg("circle", { class: "rnn-pulse", cx: cx(t), cy: ROWS.cell, r: 2 + position(scale, step.dh_norm) * (size / 2 - 2) }));
      }
      const height = back ? Math.max(1, position(scale, step.dh_norm) * ROWS.barsHeight) : 0;
      group.append(svg("rect", { class: "rnn-bar", x: cx(t) - Math.max(2, col * 0.3), y: ROWS.bars + ROWS.barsHeight - height, width: Math.max(4, col * 0.6), height }));
      if (t % every === 0 || t === T - 1) {
        group.append(svg("text", { class: "rnn-tlabel", x: cx(t), y: ROWS.axis, "text-anchor": "middle" }, `${t}`));
      }
      nodes.push(group);
    }
    // The bars' log axis, labelled by decade; its labels and the row labels are pinned left.
    const fixed = svg("g", { class: "rnn-fixed" }, svg("rect", { class: "rnn-fixed-bg", x: 0, y: 0, width: LEFT - 2, height: HEIGHT }));
    fixed.append(svg("text", { class: "rnn-rowlabel", x: 4, y: ROWS.out + 4 }, "ŷ"));
    fixed.append(svg("text", { class: "rnn-rowlabel", x: 4, y: ROWS.cell + 4 }, "h_t"));
    fixed.append(svg("text", { class: "rnn-rowlabel", x: 4, y: ROWS.x + 3 }, "x_t"));
    fixed.append(svg("text", { class: "rnn-rowlabel", x: 4, y: ROWS.axis }, "t ="));
    fixed.append(svg("text", { class: "rnn-axis-title", x: 4, y: ROWS.bars - 10 }, this.axisTitle));
    const axis = svg("g", { class: "rnn-axis" });
    for (const d of ticks(scale, 4)) {
      const y = ROWS.bars + ROWS.barsHeight - ((d - scale.lo) / (scale.hi - scale.lo)) * ROWS.barsHeight;
      nodes.unshift(svg("line", { class: "rnn-grid", x1: LEFT - 4, x2: LEFT + T * col, y1: y, y2: y }));
      axis.append(svg("text", { class: "rnn-ticklabel", x: LEFT - 6, y: y + 3, "text-anchor": "end" }, decadeLabel(d)));
    }
    fixed.append(axis);
    nodes.push(fixed);
    return nodes;
  }

  /** The sentence under the diagram: what the last press did, with its number. */
  describe(trace, selected) {
    const T = trace.n_timesteps;
    const stage = trace.stage;
    const t = stage === "forward" || stage === "backward" ? trace.stage_timestep : selected;
    const step = trace.timesteps[t ?? 0];
    const parts = [];
    if (stage === "forward") parts.push(`Forward ran t = ${t}: h_${t} from x_${t} and h_${t - 1 < 0 ? "−1 = 0" : t - 1}.`);
    else if (stage === "backward") parts.push(`Backward ran t = ${t}.`);
    else if (stage === "loss") parts.push(`Loss computed at ${trace.head_mode === "every" ? "every step" : `t = ${T - 1}`}; backward starts at t = ${T - 1}.`);
    this.readout.replaceChildren();
    for (const text of parts) this.readout.append(text, " ");
    if (t !== null && t !== undefined && backwardDone(step)) {
      const value = document.createElement("span");
      value.dataset.field = "dh_norm";
      value.dataset.t = String(t);
      value.textContent = fmt(step.dh_norm);
      this.readout.append(`‖∂L/∂h_${t}‖ = `, value, " (over the batch and the units)");
      if (step.cut && t > 0) this.readout.append(`; truncated BPTT cuts here: nothing goes back to t = ${t - 1}`);
      this.readout.append(".");
    } else if (t !== null && t !== undefined && stage !== "forward" && stage !== "loss") {
      this.readout.append(`t = ${t}: backward has not reached it in this step.`);
    }
    this.root.dataset.stage = stage;
    this.root.dataset.stageTimestep = t === null || t === undefined ? "" : String(t);
  }
}
