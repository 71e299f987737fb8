// The update stage for one weight: w before, the gradient the optimiser was given (data
// gradient, regularisation terms, clipping), the optimiser's rule line by line with this
// weight's numbers (/update-rule), and w after. Every value is the engine's; the page checks
// Δw against the trace's ΔW of the same step.

import { clear, html } from "./dom.js";
import { exact, fmt, layerName } from "./format.js";
import { displayName } from "./names.js";
import { term } from "./glossary.js";
import { layerMatrix } from "./trace-fields.js";
import { pressesUntil, pressText } from "./stages.js";
import { unchanged } from "./store.js";

// How the optimiser's formulas write its hyperparameters and its state.
const HYPER_SYMBOL = { momentum: "μ", rho: "ρ", beta1: "β₁", beta2: "β₂", eps: "ε", weight_decay: "λ" };
const STATE_SYMBOL = { velocity: "v", sq_avg: "s", sq_sum: "s", m: "m", v: "v" };

function row(label, value, field, note) {
  const missing = value === null || value === undefined;
  return html(
    "div",
    { class: "quantity", "data-field": field, "data-value": missing ? "" : String(value) },
    html("span", { class: "q-label" }, ...(Array.isArray(label) ? label : [label])),
    html("span", { class: "q-value", text: missing ? "—" : fmt(value, 4), title: exact(value) }),
    note ? html("span", { class: "q-note", text: note }) : null,
  );
}

export class UpdateStageView {
  constructor(element) {
    this.root = element;
    this.drawn = null;
  }

  forget() {
    this.drawn = null;
  }

  update(state) {
    const answer = state.updateRule;
    const { sim, trace, playing } = state;
    const drawn = { answer, sim, trace, playing, weight: state.updateWeight, selection: state.selection };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    clear(this.root);
    if (!sim) return;
    const weight = state.updateWeight ?? { layer: state.selection?.layer ?? 0, i: 0, j: 0 };
    const count = sim.n_layers;
    const same = answer && answer.layer === weight.layer && answer.i === weight.i && answer.j === weight.j;
    Object.assign(this.root.dataset, { layer: weight.layer, i: weight.i, j: weight.j, step: same ? answer.step : "" });
    const where = `${weight.layer === count - 1 ? "the " : ""}${layerName(weight.layer, count)}`;
    this.root.append(html("h3", { text: `Update of w[${weight.i + 1}→${weight.j + 1}] in ${where}` }));
    const optimizer = state.config.optimizer.name;
    const formula = state.catalog.optimizerByName[optimizer]?.formula;
    this.root.append(html("p", { class: "formula", text: `${displayName(optimizer)}: ${formula ?? ""}` }));
    if (!state.updateWeight) {
      this.root.append(html("p", { class: "hint", text: "The first weight of the layer; click an edge (or pick one with the arrow keys and Enter) for another." }));
    }
    if (!same) {
      this.root.append(html("p", { class: "hint", text: playing ? "Training is playing: pause (Space) to see this weight's update." : "Loading this weight's update…" }));
      return;
    }
    const frozen = playing ? " · frozen while training plays: pause (Space) to refresh" : "";
    this.root.append(html("p", { class: playing ? "frozen" : "hint", "data-frozen": playing ? "true" : null, text: `numbers of step ${answer.step}${frozen}` }));
    const u = answer.update;
    if (!u) {
      const presses = pressesUntil(sim, "update");
      this.root.append(html("p", { class: "pending", "data-pending": "update", text: `${answer.pending} ${playing ? "" : `(${pressText(presses)}.)`}`.trim() }));
      return;
    }
    this.root.append(html("div", { class: "chain update-rows" }, ...this.rows({ ...u, t_step: answer.step }, trace, sim)));
  }

  rows(u, trace, sim) {
    const rows = [row("w before (what the forward pass used)", u.w_before, "w_before"), row([term("dW", "dW"), " = ∂L/∂w of the data loss (the edge's)"], u.grad_data, "grad_data")];
    if (u.l2_term !== 0) rows.push(row("+ λ₂·w (L2)", u.l2_term, "l2_term"));
    if (u.l1_term !== 0) rows.push(row("+ λ₁·sign(w) (L1)", u.l1_term, "l1_term"));
    if (u.clip_scale !== null) {
      const clipped = u.clip_scale < 1;
      const label = clipped ? `× c/‖g‖: global ‖g‖ = ${fmt(u.grad_norm)} was above the clip` : `× 1: global ‖g‖ = ${fmt(u.grad_norm)} within the clip`;
      rows.push(row(label, u.clip_scale, "clip_scale"));
    }
    rows.push(row("g, the gradient the optimiser gets", u.grad, "grad"));
    // The numbers the rule's right-hand sides read: this weight's optimiser state before the
    // update, η, the hyperparameters and the step count.
    for (const [key, before] of Object.entries(u.state_before)) {
      rows.push(row(`${STATE_SYMBOL[key] ?? key} before this update (${key})`, before, `before_${key}`));
    }
    const given = [`η = ${fmt(u.learning_rate)}`];
    for (const [key, v] of Object.entries(u.hyperparameters)) given.push(`${HYPER_SYMBOL[key] ?? key} = ${fmt(v)}`);
    if (["adam", "adamw"].includes(u.optimizer)) given.push(`t = ${u.t}`);
    rows.push(html("p", { class: "given", text: `with ${given.join(", ")}` }));
    for (const t of u.terms) {
      const field = t.symbol === "Δw" ? "delta" : `term_${t.symbol}`;
      rows.push(row(`${t.symbol} = ${t.formula}`, t.value, field, t.symbol === "Δw" ? this.agreement(u, t.value, trace, sim) : null));
    }
    rows.push(row("w after = w before + Δw", u.w_after, "w_after"));
    return rows;
  }

  /** The rule's Δw (redone in scalar arithmetic) against the ΔW the network applied, as the
   * trace of the same step shows it: equal to rounding. */
  agreement(u, value, trace, sim) {
    if (sim.stage !== "update" || sim.step !== u.t_step) return null;
    const shown = layerMatrix(trace?.layers?.[u.layer], "dW_update")?.[u.i]?.[u.j];
    if (shown === null || shown === undefined) return null;
    const close = Math.abs(value - shown) <= 1e-12 * Math.max(Math.abs(shown), Math.abs(value));
    return close ? "= ΔW the network applied ✓" : `≠ ΔW the network applied (${fmt(shown)})`;
  }
}
