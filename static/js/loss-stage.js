// The loss stage: what the loss computed for this minibatch — each row's prediction ŷ against
// its target y, its own loss ℓ_n, and the minibatch loss L, their mean. All numbers are the
// trace's (per-sample losses from the engine); the page only checks their mean against L.

import { clear, html } from "./dom.js";
import { exact, fmt } from "./format.js";
import { datasetInfo, lossesForTask } from "./catalog.js";
import { displayName } from "./names.js";
import { term } from "./glossary.js";
import { forwardReached, lossComputed, pressesUntil, pressText } from "./stages.js";
import { unchanged } from "./store.js";

const MAX_ROWS = 100;

export class LossStageView {
  constructor(element, { onSample }) {
    this.root = element;
    this.onSample = onSample;
    this.drawn = null;
  }

  forget() {
    this.drawn = null;
  }

  update(state) {
    const { trace, sim, playing, sample, config } = state;
    const drawn = { trace, sim, playing, sample, config };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    clear(this.root);
    if (!trace || !sim) return;
    this.root.dataset.step = String(sim.step);
    this.root.append(html("h3", { text: `Loss stage · step ${sim.step}` }));
    const info = datasetInfo(state);
    const lossName = config.loss ?? lossesForTask(state.catalog, info?.task)[0]?.name;
    const loss = state.catalog.lossByName[lossName];
    if (loss) {
      this.root.append(html("p", { class: "formula", text: `${displayName(loss.name)}: ${loss.formula}` }));
    }
    if (playing) {
      this.root.append(
        html("p", { class: "readout" }, term("loss"), ` of step ${sim.step}: ${fmt(sim.loss, 4)}`),
        html("p", { class: "pending", "data-pending": "play", text: "Training is playing: pause (Space) to see each sample's prediction and loss." }),
      );
      return;
    }
    const L = sim.n_layers;
    const computed = lossComputed(sim) && Array.isArray(trace.sample_losses);
    if (!forwardReached(sim, L - 1)) {
      const presses = pressesUntil(sim, "loss");
      this.root.append(
        html("p", { class: "pending", "data-pending": "loss", text: `The loss is computed at the loss stage, after the forward pass has produced every prediction: ${pressText(presses)} to get there.` }),
      );
      return;
    }
    if (computed) {
      const losses = trace.sample_losses;
      const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
      const agrees = Math.abs(mean - trace.loss) <= 1e-9 * Math.max(Math.abs(trace.loss), 1e-300);
      this.root.append(
        html(
          "p",
          { class: "loss-total", "data-value": String(trace.loss) },
          term("loss", "minibatch loss L"),
          ` = ${fmt(trace.loss, 4)}`,
          html("span", { class: "q-note", text: agrees ? ` = mean of the ${losses.length} ℓ_n below ✓` : ` ≠ mean of the ℓ_n (${fmt(mean, 4)})` }),
        ),
      );
    } else {
      this.root.append(
        html("p", { class: "pending", "data-pending": "loss", text: `Every prediction is ready; the loss stage compares them with the targets: ${pressText(pressesUntil(sim, "loss"))}.` }),
      );
    }
    this.root.append(this.table(state, info, computed));
  }

  /** One row per batch sample: y, ŷ (multiclass: ŷ of the true class and the predicted
   * class), ℓ_n; the focus sample is marked and a row click makes it the focus sample. */
  table(state, info, computed) {
    const { trace, sample } = state;
    const predictions = trace.batch_prediction ?? [];
    const ys = trace.batch_y ?? [];
    const losses = computed ? trace.sample_losses : null;
    const multiclass = info?.task === "multiclass";
    const header = multiclass ? ["n", "y (class)", "ŷ_y", "predicted", "ℓ_n"] : ["n", "y", info?.task === "binary" ? "ŷ = σ(z)" : "ŷ", "ℓ_n"];
    const rows = [];
    for (let n = 0; n < Math.min(ys.length, MAX_ROWS); n++) {
      const p = predictions[n] ?? [];
      const y = ys[n];
      const cells = [String(n + 1), multiclass ? String(y) : fmt(y, 4)];
      if (multiclass) {
        const best = p.reduce((b, v, k) => (v > p[b] ? k : b), 0);
        cells.push(fmt(p[y], 4), String(best));
      } else {
        cells.push(fmt(p[0], 4));
      }
      const ell = losses ? losses[n] : null;
      const lossCell = html("td", { class: "ell", text: losses ? fmt(ell, 4) : "—", title: exact(ell) });
      const row = html(
        "tr",
        { "data-row": String(n), "data-loss": losses ? String(ell) : "", "aria-current": n === sample ? "true" : null },
        ...cells.map((text) => html("td", { text })),
        lossCell,
      );
      row.addEventListener("click", () => this.onSample(n));
      rows.push(row);
    }
    const note = ys.length > MAX_ROWS ? `first ${MAX_ROWS} of ${ys.length} rows (the mean is over all ${ys.length})` : `${ys.length} rows of this minibatch; click a row to focus that sample`;
    const headCells = header.map((text) => html("th", { scope: "col" }, text === "ℓ_n" ? term("sample_loss") : text));
    return html(
      "div",
      { class: "batch-table" },
      html("table", { class: "terms loss-rows" }, html("caption", { text: note }), html("thead", {}, html("tr", {}, ...headCells)), html("tbody", {}, ...rows)),
    );
  }
}
