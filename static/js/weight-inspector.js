// Weight inspector: the chain rule behind one weight's gradient, with the engine's numbers.
//
//   ∂L_n/∂w_ij = δ_j · a_i,   δ_j = f′(z_j) · Σ_k w_jk δ_k   (output layer: f′(z_j) · ∂L/∂a_j)
//   dW_ij = mean over the batch of ∂L_n/∂w_ij  — the value the edge shows.

import { clear, html } from "./dom.js";
import { exact, fmt, layerName } from "./format.js";
import { layerMatrix } from "./trace-fields.js";
import { unchanged } from "./store.js";

const MAX_TERMS = 12;

function quantity(label, value, field, note) {
  return html(
    "div",
    { class: "quantity", "data-field": field, "data-value": value === null || value === undefined ? "" : String(value) },
    html("span", { class: "q-label", text: label }),
    html("span", { class: "q-value", text: fmt(value, 4), title: exact(value) }),
    note ? html("span", { class: "q-note", text: note }) : null,
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
    const { selection, chain } = state;
    const drawn = { selection, trace: state.trace, chain, chainError: state.chainError, sample: state.sample };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    clear(this.root);
    const { layer, i, j } = selection;
    // Which weight and sample these numbers belong to, readable without parsing the text.
    Object.assign(this.root.dataset, { layer, i, j, sample: state.sample });
    const count = state.trace?.layers?.length ?? 0;
    const isOutput = layer === count - 1;
    const title = `Weight w[${i + 1}→${j + 1}] of ${isOutput ? "the " : ""}${layerName(layer, count)}`;
    this.root.append(html("h3", { text: title }));
    const samplePicker = html(
      "div",
      { class: "sample-picker" },
      html("button", { type: "button", class: "icon", "aria-label": "Previous sample", onclick: () => this.onSample(Math.max(0, state.sample - 1)), text: "‹" }),
      html("span", { text: `focus sample ${state.sample + 1} of ${state.trace?.batch_size ?? "?"}` }),
      html("button", { type: "button", class: "icon", "aria-label": "Next sample", onclick: () => this.onSample(state.sample + 1), text: "›" }),
    );
    if (state.trace?.input) {
      const input = state.trace.input.map((v) => fmt(v)).join(", ");
      samplePicker.append(html("span", { class: "hint", text: `x = (${input}), target ${fmt(state.trace.target)}` }));
    }
    this.root.append(samplePicker);
    if (state.chainError) {
      this.root.append(html("p", { class: "hint", text: state.chainError }));
      return;
    }
    if (!chain) {
      this.root.append(html("p", { class: "hint", text: "Run a backward pass to see this weight's chain rule." }));
      return;
    }
    const downstreamLabel = isOutput ? `∂L/∂a_${j + 1} (from the loss)` : `Σ_k w_${j + 1}k δ_k (from ${layerName(layer + 1, count)})`;
    this.root.append(
      html("p", { class: "formula", text: `∂L/∂w = δ_j · a_i,  δ_j = f′(z_j) · ${isOutput ? "∂L/∂a_j" : "Σ_k w_jk δ_k"}` }),
      html(
        "div",
        { class: "chain" },
        quantity(`a_${i + 1} (input to the weight)`, chain.a_i, "a_i"),
        quantity(`z_${j + 1}`, chain.z_j, "z_j"),
        quantity(`f′(z_${j + 1})`, chain.fprime_z_j, "fprime_z_j"),
        quantity(downstreamLabel, chain.downstream, "downstream"),
        quantity(`δ_${j + 1} = f′(z) · ${isOutput ? "∂L/∂a" : "Σ"}`, chain.delta_j, "delta_j"),
        quantity("∂L_n/∂w = δ · a (this sample)", chain.grad_sample, "grad_sample"),
        quantity(`batch average over ${chain.batch_size}`, chain.batch_average, "batch_average"),
        quantity("dW shown on the edge", chain.dW_ij, "dW_ij", this.agreement(chain, state)),
      ),
    );
    const terms = chain.terms;
    if (terms.length) {
      const rows = terms.slice(0, MAX_TERMS).map((term) =>
        html(
          "tr",
          {},
          html("td", { text: String(term.k + 1) }),
          html("td", { text: fmt(term.w_jk, 4) }),
          html("td", { text: fmt(term.delta_k, 4) }),
        ),
      );
      this.root.append(
        html(
          "table",
          { class: "terms" },
          html("caption", { text: terms.length > MAX_TERMS ? `first ${MAX_TERMS} of ${terms.length} terms of the sum` : "terms of the sum" }),
          html("thead", {}, html("tr", {}, ...["k", "w_jk", "δ_k"].map((t) => html("th", { text: t })))),
          html("tbody", {}, ...rows),
        ),
      );
    }
  }

  /** Compare the engine's batch average with the dW in the trace the diagram draws. */
  agreement(chain, state) {
    const { layer, i, j } = state.selection;
    const shown = layerMatrix(state.trace?.layers?.[layer], "dW")?.[i]?.[j];
    const average = chain.batch_average;
    if (shown === null || shown === undefined || average === null || average === undefined) return null;
    const close = Math.abs(shown - average) <= 1e-9 * Math.max(1, Math.abs(shown));
    return close ? "= batch average ✓" : `≠ batch average (${fmt(shown)})`;
  }
}
