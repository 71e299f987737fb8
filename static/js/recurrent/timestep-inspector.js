// One timestep up close: x_t, h_t (and c_t), the gates of a GRU or LSTM with their saturation,
// ‖∂L/∂h_t‖, the state Jacobian, and this timestep's own term of ∂L/∂W_xh, ∂L/∂W_hh and
// ∂L/∂W_hy beside the whole gradient. Per-unit values are of the trace's sample; norms of
// gradients are over the batch (the loss is the batch mean).

import { html, setText, svg } from "../dom.js";
import { fmt, percent } from "../format.js";
import { diverging } from "../palette.js";
import { backwardDone, forwardDone } from "./unrolled-view.js";

const BLOCKS = [
  ["W_xh", "input weights W_xh"],
  ["W_hh", "recurrent weights W_hh"],
  ["W_hy", "head weights W_hy"],
];
// Gates squashed by σ live in (0, 1); the candidates and h in (−1, 1) (tanh).
const UNIT_INTERVAL = new Set(["input", "forget", "output", "reset", "update"]);

/** GET /timestep/{t} by block: ‖this timestep's term‖, ‖the gradient added up so far‖ and
 * the term's share ‖C_t‖ ÷ Σ_s ‖C_s‖ (the engine's numbers). */
export function contributionNorms(detail) {
  const norms = detail?.contribution_norms ?? {};
  const totals = detail?.grad_norms ?? {};
  const share = detail?.share ?? {};
  return Object.fromEntries(BLOCKS.map(([block]) => [block, { term: norms[block] ?? null, total: totals[block] ?? null, share: share[block] ?? null }]));
}

function unitStrip(values, { unit = false } = {}) {
  const n = values.length;
  const w = Math.max(4, Math.min(14, Math.floor(220 / n)));
  const top = unit ? 1 : Math.max(1e-12, ...values.map(Math.abs));
  const node = svg("svg", { class: "rnn-units", width: n * w, height: 14, viewBox: `0 0 ${n * w} 14`, role: "img" });
  values.forEach((v, i) => {
    const shade = unit ? 2 * v - 1 : v / top;
    node.append(svg("rect", { x: i * w, y: 0, width: w - 1, height: 14, fill: diverging(Math.max(-1, Math.min(1, shade))) }, svg("title", {}, `unit ${i}: ${fmt(v)}`)));
  });
  return node;
}

/** While playing, frames carry three numbers per timestep (recurrentFrameTrace): show those,
 * of the frame's step, and say where the rest is — never numbers of an older step. */
function playingSummary(trace, t, step) {
  const facts = [
    [`‖∂L/∂h_${t}‖ (batch)`, step.dh_norm, "dh_norm"],
    [`‖J_${t}‖₂ = ‖∂s_${t}/∂s_${t - 1}‖₂ (sample ${trace.sample})`, step.jacobian_norm, "jacobian_norm"],
    [`‖C_${t}‖, timestep ${t}'s term of ∂L/∂W_hh`, step.contribution_norm_hh, "contribution_norm_hh"],
  ];
  const rows = facts.flatMap(([label, value, field]) => [html("dt", { text: label }), html("dd", { text: fmt(value), "data-field": field })]);
  return [
    html("p", { class: "hint", text: `Playing: step ${trace.step}'s numbers as they arrive. Pause to see h_${t}, the gates and timestep ${t}'s term of every weight gradient.` }),
    html("dl", { class: "rnn-facts" }, ...rows),
  ];
}

export class TimestepInspector {
  constructor(root, { onSelectTimestep }) {
    this.root = root;
    this.body = root.querySelector(".rnn-inspector-body");
    this.picker = root.querySelector("input[name=timestep]");
    this.onSelect = onSelectTimestep;
    this.picker.addEventListener("change", () => {
      if (this.picker.checkValidity()) this.onSelect(Number(this.picker.value));
    });
    for (const button of root.querySelectorAll("[data-timestep-move]")) {
      button.addEventListener("click", () => this.onSelect((Number(this.picker.value) || 0) + Number(button.dataset.timestepMove)));
    }
    this.drawn = null;
  }

  update(state) {
    const trace = state.trace;
    if (trace?.model !== "recurrent") return;
    const T = trace.n_timesteps;
    const t = Math.max(0, Math.min(T - 1, state.timestep ?? T - 1));
    const detail = state.timestepDetail?.t === t ? state.timestepDetail : null;
    if (this.drawn?.trace === trace && this.drawn.t === t && this.drawn.detail === detail) return;
    this.drawn = { trace, t, detail };
    this.picker.max = String(T - 1);
    if (document.activeElement !== this.picker) this.picker.value = String(t);
    this.root.dataset.t = String(t);
    const step = trace.timesteps[t];
    if (trace.summary) {
      this.body.replaceChildren(...playingSummary(trace, t, step));
      return;
    }
    const nodes = [];
    const rows = [];
    const row = (label, value, field) => rows.push(html("dt", { text: label }), html("dd", { text: value, "data-field": field }));
    row(`x_${t} (sample ${trace.sample})`, (step.x ?? []).map((v) => fmt(v)).join(", ") || "—", "x");
    if (!forwardDone(step)) {
      nodes.push(html("p", { class: "hint", text: `Forward has not reached t = ${t} in this step yet.` }));
    }
    nodes.push(html("dl", { class: "rnn-facts" }, ...rows));
    if (forwardDone(step)) {
      nodes.push(html("h3", { text: `State h_${t} (${step.h.length} units, sample ${trace.sample})` }), unitStrip(step.h, {}));
      if (Array.isArray(step.c)) nodes.push(html("h3", { text: `Cell state c_${t}` }), unitStrip(step.c, {}));
      const gates = Object.entries(step.gates ?? {});
      if (gates.length) {
        const list = html("div", { class: "rnn-gates" });
        for (const [name, values] of gates) {
          const saturated = step.saturated?.[name];
          list.append(
            html(
              "div",
              { class: "rnn-gate", "data-gate": name },
              html("span", { class: "rnn-gate-name", text: `${name} gate` }),
              unitStrip(values, { unit: UNIT_INTERVAL.has(name) }),
              html("span", { class: "hint", text: `mean ${fmt(step.gate_mean?.[name])} (batch) · saturated ${percent(saturated)}` }),
            ),
          );
        }
        nodes.push(html("h3", { text: "Gates (sample's units; mean and saturation over the batch)" }), list);
      } else if (step.saturated?.h !== undefined) {
        nodes.push(html("p", { class: "hint", text: `Saturated (|f′| below 5 % of its largest slope): ${percent(step.saturated.h)} of the batch's units.` }));
      }
    }
    const grads = [];
    const gradRow = (label, value, field, note) =>
      grads.push(html("dt", { text: label }), html("dd", { "data-field": field }, html("span", { class: "value", text: value }), note ? html("span", { class: "hint", text: ` ${note}` }) : null));
    gradRow(`‖∂L/∂h_${t}‖ (batch)`, backwardDone(step) ? fmt(step.dh_norm) : "after backward reaches t", "dh_norm");
    if (step.dc_norm !== null && step.dc_norm !== undefined) gradRow(`‖∂L/∂c_${t}‖ (batch)`, fmt(step.dc_norm), "dc_norm");
    gradRow(`‖J_${t}‖₂ = ‖∂s_${t}/∂s_${t - 1}‖₂`, fmt(step.jacobian_norm), "jacobian_norm", `(sample ${trace.sample})`);
    gradRow(`Π_{s>${t}} ‖J_s‖₂`, fmt(step.jacobian_product), "jacobian_product", "(upper bound on the growth from the last step)");
    gradRow(`‖∂s_${T - 1}/∂s_${t}‖₂`, fmt(step.gain_to_last), "gain_to_last", "(that growth exactly)");
    nodes.push(html("h3", { text: "Gradient at this timestep" }), html("dl", { class: "rnn-facts" }, ...grads));
    nodes.push(this.contributionTable(trace, t, step, detail));
    this.body.replaceChildren(...nodes);
  }

  contributionTable(trace, t, step, detail) {
    const wrap = html("div", { class: "rnn-contribution" });
    wrap.append(html("h3", { text: `Timestep ${t}'s term of each weight gradient` }));
    if (!backwardDone(step) || step.contribution_norm_hh === null) {
      wrap.append(html("p", { class: "hint", text: `Backward has not reached t = ${t} in this step yet: its terms are added when it does.` }));
      return wrap;
    }
    const norms = contributionNorms(detail);
    const table = html("table", { class: "rnn-table" });
    // Mid-backward the gradient holds the terms of the timesteps reached so far only.
    const partial = trace.stage === "backward" && trace.stage_timestep > 0;
    const sofar = partial ? ` so far (t ≥ ${trace.stage_timestep})` : "";
    table.append(html("thead", {}, html("tr", {}, ...["weights", "‖C_t‖ (this timestep's term)", `‖∂L/∂W‖${sofar}`, `share ‖C_t‖ ÷ Σ_s ‖C_s‖${sofar}`].map((text) => html("th", { scope: "col", text })))));
    const body = html("tbody");
    for (const [block, label] of BLOCKS) {
      const fromTrace = step[`contribution_norm_${block.slice(2)}`];
      const term = norms[block].term ?? fromTrace ?? null;
      const { total, share } = norms[block];
      body.append(
        html(
          "tr",
          {},
          html("th", { scope: "row", text: label }),
          html("td", { "data-field": `contribution-${block}`, text: term === null ? (block === "W_hy" ? "— (head does not read t)" : "—") : fmt(term) }),
          html("td", { "data-field": `total-${block}`, text: total === null || total === undefined ? "…" : fmt(total) }),
          html("td", { "data-field": `share-${block}`, text: share === null ? "—" : percent(share) }),
        ),
      );
    }
    table.append(body);
    wrap.append(
      table,
      html("p", {
        class: "hint",
        text: "Backprop through time adds one term C_t per timestep; the terms sum exactly to ∂L/∂W. The share compares sizes: Σ_s ‖C_s‖ is at least ‖∂L/∂W‖, as terms can point different ways and partly cancel.",
      }),
    );
    return wrap;
  }
}
