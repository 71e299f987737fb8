// "How far back does the gradient reach", the share of ∂L/∂W_hh from the first timesteps, and
// the state Jacobians that explain both: ‖J_t‖₂ per timestep and their running product, drawn
// on a log axis with a line at 1 (above it a step can grow the gradient, below it shrinks it).
// Every number is the engine's (trace.reach, trace.contribution_share, trace.jacobians).

import { setText, svg } from "../dom.js";
import { fmt, percent } from "../format.js";
import { decadeLabel, decades, position, ticks } from "./log-scale.js";

const H = 120;
const TOP = 8;
const BOTTOM = 18;
const LEFT = 44;

export class ReachView {
  constructor(root) {
    this.reach = root.querySelector(".rnn-reach");
    this.share = root.querySelector(".rnn-share");
    this.chart = root.querySelector(".rnn-jacobians");
    this.caption = root.querySelector(".rnn-jacobians-caption");
    this.drawn = null;
  }

  update(state) {
    const trace = state.trace;
    if (trace?.model !== "recurrent") return;
    // A comparison's column shows the readouts only (no chart).
    const width = this.chart ? this.chart.parentElement.clientWidth || 300 : 0;
    if (this.drawn?.trace === trace && this.drawn.width === width) return;
    this.drawn = { trace, width };
    this.writeReach(trace);
    this.writeShare(trace);
    if (this.chart) this.drawJacobians(trace, width);
  }

  writeReach(trace) {
    const T = trace.n_timesteps;
    const reach = trace.reach;
    this.reach.replaceChildren();
    if (!reach) {
      setText(this.reach, "Gradient reach: appears once this step's loss is computed.");
      return;
    }
    const threshold = percent(reach.threshold);
    const term = trace.head_mode === "every" ? `the loss term of the last step's output alone, L_${T - 1}` : "the loss";
    if (reach.steps === null || reach.steps === undefined) {
      setText(this.reach, `Gradient reach: none — the gradient of ${term} is zero at every timestep.`);
      return;
    }
    const value = document.createElement("strong");
    value.dataset.field = "reach";
    value.textContent = `${reach.steps} of ${T} timesteps`;
    this.reach.append(
      "Gradient reaches back ",
      value,
      ` (t = ${reach.earliest} … ${T - 1}): ‖∂L/∂h_t‖ of ${term} stays at or above ${threshold} of its largest value from t = ${T - 1} back to t = ${reach.earliest}${trace.truncate ? ` (truncated BPTT: k = ${trace.truncate})` : ""}.`,
    );
  }

  writeShare(trace) {
    const T = trace.n_timesteps;
    const share = trace.contribution_share;
    if (!share) {
      setText(this.share, "Share of ∂L/∂W_hh from the first timesteps: appears once the backward pass reaches t = 0.");
      return;
    }
    const k = Math.max(1, Math.ceil(T / 4));
    this.share.replaceChildren();
    const value = document.createElement("strong");
    value.dataset.field = "share";
    value.textContent = share[k - 1] < 0.001 && share[k - 1] > 0 ? share[k - 1].toExponential(1) : percent(share[k - 1]);
    this.share.append(`The first ${k} timestep${k > 1 ? "s" : ""} (t < ${k}) give `, value, ` of Σ_t ‖C_t‖, the summed sizes of ∂L/∂W_hh's per-timestep terms.`);
  }

  drawJacobians(trace, width) {
    const T = trace.n_timesteps;
    const jac = trace.jacobians ?? {};
    const norm = jac.norm ?? [];
    const product = jac.product ?? [];
    const scale = decades([...norm, ...product, 1], { atLeast: 1 });
    const plotW = Math.max(60, width - LEFT - 6);
    const x = (t) => LEFT + (T === 1 ? plotW / 2 : (t / (T - 1)) * plotW);
    const y = (v) => TOP + (1 - position(scale, v)) * (H - TOP - BOTTOM);
    const nodes = [];
    for (const d of ticks(scale, 4)) {
      nodes.push(svg("line", { class: d === 0 ? "rnn-one" : "rnn-grid", x1: LEFT, x2: LEFT + plotW, y1: y(10 ** d), y2: y(10 ** d) }));
      nodes.push(svg("text", { class: "rnn-ticklabel", x: LEFT - 4, y: y(10 ** d) + 3, "text-anchor": "end" }, decadeLabel(d)));
    }
    const path = (values) =>
      values.map((v, t) => (v > 0 ? `${x(t)},${y(v)}` : null)).filter(Boolean).map((p, k) => `${k ? "L" : "M"}${p}`).join("");
    if (product.some((v) => v > 0)) nodes.push(svg("path", { class: "rnn-product", d: path(product) }));
    norm.forEach((v, t) => {
      if (v > 0) nodes.push(svg("circle", { class: "rnn-jnorm", cx: x(t), cy: y(v), r: 2.5 }, svg("title", {}, `‖J_${t}‖₂ = ${fmt(v)}`)));
    });
    nodes.push(svg("text", { class: "rnn-ticklabel", x: LEFT, y: H - 4 }, "t = 0"));
    nodes.push(svg("text", { class: "rnn-ticklabel", x: LEFT + plotW, y: H - 4, "text-anchor": "end" }, `${T - 1}`));
    this.chart.setAttribute("viewBox", `0 0 ${width} ${H}`);
    this.chart.setAttribute("width", String(width));
    this.chart.setAttribute("height", String(H));
    this.chart.replaceChildren(...nodes);
    const state = trace.cell === "lstm" ? "s = [h, c]" : "s = h";
    setText(
      this.caption,
      norm.some((v) => v !== null)
        ? `Dots: ‖J_t‖₂ = ‖∂s_t/∂s_{t−1}‖₂ (spectral norm, ${state}) of sample ${jac.sample ?? trace.sample}; line: running product Π_{s>t} ‖J_s‖₂, an upper bound on how much the gradient from t = ${T - 1} can grow on its way back to t. Log axis; the darker line is 1.`
        : "The state Jacobians appear as the forward pass runs.",
    );
  }
}
