// Weight inspector: the chain rule behind one weight's gradient, with the engine's numbers.
//
//   ∂L_n/∂w_ij = δ_j · a_i,   hidden layer: δ_j = f′(z_j) · Σ_k w_jk δ_k
//   output layer: δ_j = ∂L_n/∂z_j from the loss and the head, as /chain's `output` says
//   dW_ij = mean over the batch of ∂L_n/∂w_ij  — the value the edge shows.
//
// Honesty rules: a number of the backward pass shows only once this step's backward pass has
// reached the layer (before that the panel says when it will); the numbers shown all belong to
// one step (`chainTrace`/`chainSim`, fetched with the chain), and while training plays they
// stay frozen at that step and say so.

import { clear, html } from "./dom.js";
import { exact, fmt, layerName } from "./format.js";
import { layerMatrix, NOT_YET } from "./trace-fields.js";
import { term } from "./glossary.js";
import { backwardReached, forwardReached, pressesUntil, pressText } from "./stages.js";
import { describeStage } from "./transport.js";
import { unchanged } from "./store.js";

const MAX_TERMS = 12;
const HEAD_SYMBOL = { sigmoid: "σ", softmax: "softmax", linear: "" };

function quantity(label, value, field, note) {
  const missing = value === null || value === undefined;
  return html(
    "div",
    { class: "quantity", "data-field": field, "data-value": missing ? "" : String(value) },
    html("span", { class: "q-label" }, ...(Array.isArray(label) ? label : [label])),
    html("span", { class: "q-value", text: missing ? NOT_YET : fmt(value, 4), title: exact(value) }),
    note ? html("span", { class: "q-note", text: note }) : null,
  );
}

/** Why a fused head has no f′ line: the head's derivative cancels against the loss's. */
function fusedWhy(output) {
  if (output.head === "sigmoid") {
    return (
      "Why there is no f′ here: binary cross-entropy gives ∂L/∂ŷ = (ŷ − y) / (ŷ(1 − ŷ)) and the " +
      "sigmoid's derivative is ŷ(1 − ŷ); they cancel, so δ = ∂L/∂z = ŷ − y exactly."
    );
  }
  return (
    "Why there is no f′ here: the softmax's Jacobian and cross-entropy's derivative cancel, so " +
    "δ_j = ∂L/∂z_j = ŷ_j − y_j exactly (y one-hot)."
  );
}

export class WeightInspector {
  constructor(element, { onSample }) {
    this.root = element;
    this.onSample = onSample;
    this.drawn = null;
  }

  /** The inspector body was cleared for another view: draw from scratch next time. */
  forget() {
    this.drawn = null;
  }

  update(state) {
    const { selection, chain, chainError, playing } = state;
    // The numbers of one step: those fetched with the chain (frozen while playing).
    const trace = state.chainTrace ?? state.trace;
    const sim = state.chainSim ?? state.sim;
    const drawn = { selection, trace, sim, chain, chainError, playing, sample: state.sample };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    clear(this.root);
    const { layer, i, j } = selection;
    const count = trace?.layers?.length ?? state.sim?.n_layers ?? 0;
    const isOutput = layer === count - 1;
    // Which weight, sample and step these numbers belong to, readable without parsing the text.
    Object.assign(this.root.dataset, { layer, i, j, sample: state.sample, step: sim?.step ?? "" });
    const title = `Weight w[${i + 1}→${j + 1}] of ${isOutput ? "the " : ""}${layerName(layer, count)}`;
    // The title and which step the numbers are of, on one line where there is room.
    const head = html("div", { class: "title-row" }, html("h3", { text: title }));
    if (sim) {
      const where = `numbers of step ${sim.step} · ${describeStage(sim, false).replace(/^step \d+ · /, "")}`;
      const frozen = playing ? " · frozen while training plays: pause (Space) to refresh" : "";
      head.append(html("p", { class: playing ? "frozen" : "hint", "data-frozen": playing ? "true" : null, text: where + frozen }));
    }
    this.root.append(head);
    this.root.append(this.samplePicker(state, trace));
    if (!trace || !sim) return;
    const forward = this.forwardValues(trace, sim, layer, i, j);
    if (playing && !chain) {
      this.root.append(
        html("p", { class: "pending", "data-pending": "play", text: "Training is playing: this weight's chain rule changes every step. Pause (Space) to see it at the step you stop on." }),
      );
      return;
    }
    const reached = backwardReached(sim, layer);
    if (!reached) {
      const presses = pressesUntil(sim, "backward", layer);
      const where = isOutput ? "the output layer" : layerName(layer, count);
      const text = `δ_${j + 1}, ∂L/∂w and dW for this weight come from the backward pass, which has not reached ${where} yet: ${pressText(presses)} to get there.`;
      this.root.append(
        html("p", { class: "formula", text: "∂L_n/∂w_ij = δ_j · a_i" }),
        html("div", { class: "chain" }, ...forward),
        html("p", { class: "pending", "data-pending": "backward", text }),
      );
      return;
    }
    if (chainError) {
      this.root.append(html("div", { class: "chain" }, ...forward), html("p", { class: "hint", text: chainError }));
      return;
    }
    if (!chain) {
      this.root.append(html("div", { class: "chain" }, ...forward), html("p", { class: "hint", text: "Loading this weight's chain rule…" }));
      return;
    }
    this.drawChain(chain, trace, sim, { layer, i, j, count, isOutput, playing });
  }

  samplePicker(state, trace) {
    const picker = html(
      "div",
      { class: "sample-picker" },
      html("button", { type: "button", class: "icon", "aria-label": "Previous sample", onclick: () => this.onSample(Math.max(0, state.sample - 1)), text: "‹" }),
      html("span", { text: `focus sample ${state.sample + 1} of ${trace?.batch_size ?? "?"}` }),
      html("button", { type: "button", class: "icon", "aria-label": "Next sample", onclick: () => this.onSample(state.sample + 1), text: "›" }),
    );
    if (trace?.input) {
      const input = trace.input.map((v) => fmt(v)).join(", ");
      picker.append(html("span", { class: "hint", text: `x = (${input}), target ${fmt(trace.target)}` }));
    }
    return picker;
  }

  /** w, a_i and z_j as the trace holds them: known once the forward pass computed them. */
  forwardValues(trace, sim, layer, i, j) {
    const w = layerMatrix(trace.layers?.[layer], "W")?.[i]?.[j];
    const a = layer === 0 ? trace.input?.[i] : forwardReached(sim, layer - 1) ? trace.layers?.[layer - 1]?.sample?.a?.[i] : null;
    const z = forwardReached(sim, layer) ? trace.layers?.[layer]?.sample?.z?.[j] : null;
    return [
      quantity(`w_${i + 1}${j + 1} (this weight)`, w, "w_ij"),
      quantity(`a_${i + 1} (input to the weight)`, a, "a_i"),
      quantity(`z_${j + 1} (pre-activation)`, z, "z_j"),
    ];
  }

  drawChain(chain, trace, sim, { layer, i, j, count, isOutput, playing }) {
    const J = j + 1;
    const rows = [
      quantity(`w_${i + 1}${J} (this weight)`, chain.w_ij, "w_ij"),
      quantity(`a_${i + 1} (input to the weight)`, chain.a_i, "a_i"),
      quantity(`z_${J} (pre-activation)`, chain.z_j, "z_j"),
    ];
    let formula;
    let why = null;
    const delta = (text) => [term("delta", `δ_${J}`), ` ${text}`];
    const output = isOutput ? chain.output : null;
    if (output) {
      const head = HEAD_SYMBOL[output.head];
      const yhat = output.head === "linear" ? `ŷ_${J} = z_${J} (linear output)` : `ŷ_${J} = ${head}(z)_${J} (network output)`;
      rows.push(quantity(yhat, output.y_hat, "y_hat"), quantity(`y_${J} (target)`, output.target, "target"));
      if (output.case === "fused") {
        formula = `∂L_n/∂w_ij = δ_j · a_i,  δ_j = ∂L_n/∂z_j = ŷ_j − y_j`;
        rows.push(quantity(delta(`= ∂L_n/∂z_${J} = ŷ − y`), chain.delta_j, "delta_j"));
        why = fusedWhy(output);
      } else if (output.case === "identity") {
        formula = `∂L_n/∂w_ij = δ_j · a_i,  δ_j = ∂L_n/∂ŷ_j = ŷ_j − y_j  (ŷ = z)`;
        rows.push(
          quantity(`∂L_n/∂ŷ_${J} = ŷ − y (MSE)`, output.dloss_dyhat, "dloss_dyhat"),
          quantity(delta(`= ∂L_n/∂ŷ_${J} (ŷ = z, so ∂ŷ/∂z = 1)`), chain.delta_j, "delta_j"),
        );
      } else if (output.head === "sigmoid") {
        formula = `∂L_n/∂w_ij = δ_j · a_i,  δ_j = ∂L_n/∂ŷ_j · σ′(z_j),  σ′ = ŷ(1 − ŷ)`;
        rows.push(
          quantity(`∂L_n/∂ŷ_${J} = ŷ − y (MSE)`, output.dloss_dyhat, "dloss_dyhat"),
          quantity(`σ′(z_${J}) = ŷ(1 − ŷ) (the head's derivative)`, output.head_derivative, "head_derivative"),
          quantity(delta(`= ∂L_n/∂ŷ · σ′(z)`), chain.delta_j, "delta_j"),
        );
        why = "MSE on a sigmoid output: the loss's derivative and the sigmoid's do not cancel, so δ passes through σ′ — it shrinks when ŷ is near 0 or 1.";
      } else {
        formula = `∂L_n/∂w_ij = δ_j · a_i,  δ_j = ŷ_j · (∂L_n/∂ŷ_j − Σ_k ŷ_k ∂L_n/∂ŷ_k)`;
        rows.push(
          quantity(`∂L_n/∂ŷ_${J} = ŷ − y (MSE)`, output.dloss_dyhat, "dloss_dyhat"),
          quantity("Σ_k ŷ_k(ŷ_k − y_k) (through the softmax)", output.head_coupling, "head_coupling"),
          quantity(delta(`= ŷ_${J} · (∂L_n/∂ŷ_${J} − Σ)`), chain.delta_j, "delta_j"),
        );
        why = "MSE on a softmax output: every output's error reaches z_j through the softmax's Jacobian, hence the Σ term.";
      }
    } else {
      formula = "∂L_n/∂w_ij = δ_j · a_i,  δ_j = f′(z_j) · Σ_k w_jk δ_k";
      rows.push(
        quantity(`f′(z_${J})`, chain.fprime_z_j, "fprime_z_j"),
        quantity(`Σ_k w_${J}k δ_k (from ${layerName(layer + 1, count)})`, chain.downstream, "downstream"),
        quantity(delta(`= f′(z) · Σ`), chain.delta_j, "delta_j"),
      );
    }
    const edgeLabel = playing ? [term("dW", "dW_ij"), ` at step ${sim.step}`] : [term("dW", "dW_ij"), " (shown on the edge)"];
    rows.push(
      quantity(`∂L_n/∂w = δ · a (this sample)`, chain.grad_sample, "grad_sample"),
      quantity(`batch average over ${chain.batch_size}`, chain.batch_average, "batch_average"),
      quantity(edgeLabel, chain.dW_ij, "dW_ij", this.agreement(chain, trace, layer, i, j)),
    );
    if (chain.regularization_grad) {
      rows.push(
        quantity("+ λ₂·w + λ₁·sign(w) (regularisation, at the update)", chain.regularization_grad, "regularization_grad"),
        quantity("gradient the update uses", chain.total_grad, "total_grad"),
      );
    }
    this.root.append(html("p", { class: "formula", text: formula }), html("div", { class: "chain" }, ...rows));
    if (why) this.root.append(html("p", { class: "why", text: why }));
    if (chain.terms.length) this.root.append(this.termsTable(chain.terms));
  }

  termsTable(terms) {
    const rows = terms.slice(0, MAX_TERMS).map((t) =>
      html("tr", {}, html("td", { text: String(t.k + 1) }), html("td", { text: fmt(t.w_jk, 4) }), html("td", { text: fmt(t.delta_k, 4) })),
    );
    return html(
      "table",
      { class: "terms" },
      html("caption", { text: terms.length > MAX_TERMS ? `first ${MAX_TERMS} of ${terms.length} terms of the sum` : "terms of the sum" }),
      html("thead", {}, html("tr", {}, ...["k", "w_jk", "δ_k"].map((t) => html("th", { text: t })))),
      html("tbody", {}, ...rows),
    );
  }

  /** Compare the engine's batch average with the dW of the same step's trace. */
  agreement(chain, trace, layer, i, j) {
    const shown = layerMatrix(trace?.layers?.[layer], "dW")?.[i]?.[j];
    const average = chain.batch_average;
    if (shown === null || shown === undefined || average === null || average === undefined) return null;
    // Relative: the two sums round differently (≈1e-16), but a wrong value is off by far more.
    const close = Math.abs(shown - average) <= 1e-9 * Math.max(Math.abs(shown), Math.abs(average));
    return close ? "= batch average ✓" : `≠ batch average (${fmt(shown)})`;
  }
}
