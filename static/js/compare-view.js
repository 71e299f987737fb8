// Compare panel: two setups side by side, driven by the one transport. Each column has its
// setup's status line, gradient-flow bars and decision boundary; the two flow panels share one
// log axis that only ever widens (equal bars are equal gradients, across setups and steps);
// one loss chart overlays both runs; the differences between the two configs are listed.

import { clear, html, setText, svg } from "./dom.js";
import { fmt, percent } from "./format.js";
import { describeStage } from "./transport.js";
import { FlowAxis, GradientFlowView, flowValues } from "./gradient-flow.js";
import { BoundaryView } from "./boundary.js";
import { LossChart } from "./loss-chart.js";
import { configDifferences } from "./differences.js";
import { cssPixels, sizeOf } from "./layout-cache.js";

/** A column's plot: its width, kept below a share of the window's height. */
function columnPlotSize(root) {
  const limit = cssPixels(root, "--compare-plot", 260);
  return Math.max(120, Math.min(limit, sizeOf(root).width - 4));
}

/** A column's accuracy line (test loss for regression), or nothing before the run exists. */
export function accuracyText(sim) {
  if (!sim) return "";
  const classification = sim.test_accuracy !== null && sim.test_accuracy !== undefined;
  return classification ? `accuracy: train ${percent(sim.train_accuracy)} · test ${percent(sim.test_accuracy)}` : `test loss ${fmt(sim.test_loss)}`;
}

export class CompareView {
  /**
   * `runsOf(state)`: every run of the comparison, {name: {name, label, sessionId, config, sim,
   * trace, history, boundary, data, markers}}; `state.pair` names the two shown.
   */
  constructor(element, { runsOf, onFocus, onEnd, onPair, onScale }) {
    this.root = element;
    this.runsOf = runsOf;
    this.onFocus = onFocus;
    this.onPair = onPair;
    this.onEnd = onEnd;
    this.onScale = onScale;
    this.built = false;
  }

  /** The panel's parts, made when a comparison starts (and gone when it ends, so that the page
   * holds one loss chart and one set of flow bars outside compare mode). */
  build() {
    const { onEnd, onScale } = this;
    this.axis = new FlowAxis();
    this.comparison = "";
    const end = html("button", { type: "button", "data-action": "end-compare", title: "Back to one setup: the one the diagram shows" }, "End compare");
    end.addEventListener("click", () => onEnd());
    this.picker = html("div", { class: "segmented pair-picker", role: "group", "aria-label": "Setups shown side by side", hidden: true });
    this.head = html("div", { class: "panel-head" }, html("h2", { text: "Compare" }), this.picker, end);
    this.differences = html("ul", { class: "differences", "aria-label": "What differs between the two setups" });
    this.columnsRoot = html("div", { class: "compare-columns" });
    this.lossRoot = html(
      "div",
      { class: "compare-loss", "data-highlight": "loss" },
      html(
        "div",
        { class: "panel-head" },
        html("h3", { text: "Loss" }),
        html(
          "div",
          { class: "segmented", role: "group", "aria-label": "Loss axis" },
          html("button", { type: "button", "data-scale": "linear", "aria-pressed": "false" }, "linear"),
          html("button", { type: "button", "data-scale": "log", "aria-pressed": "true" }, "log"),
        ),
        html(
          "span",
          { class: "legend compare-legend" },
          html("span", { class: "swatch run-0" }),
          html("span", { class: "legend-name" }),
          html("span", { class: "swatch run-1" }),
          html("span", { class: "legend-name" }),
          " — train, ‐ ‐ test, thin: minibatch",
        ),
      ),
      html(
        "div",
        { class: "loss-plot" },
        html("canvas", { class: "loss-lines", "aria-hidden": "true" }),
        svg("svg", { class: "loss-chart", role: "img", "aria-label": "Loss of both setups over steps", "aria-describedby": "compare-loss-readout" }),
      ),
      html("p", { class: "loss-readout readout", id: "compare-loss-readout" }),
    );
    this.root.replaceChildren(this.head, this.differences, this.columnsRoot, this.lossRoot);
    this.loss = new LossChart(this.lossRoot, {
      onScale,
      runsOf: (state) =>
        this.shown(state).map((run) => ({ key: run.name, label: run.label, history: run.history, sim: run.sim, markers: run.markers ?? [] })),
    });
    this.columns = [];
    this.built = true;
  }

  clear() {
    if (!this.built) return;
    this.root.replaceChildren();
    this.built = false;
  }

  /** The two runs shown, in the order of the pair. */
  shown(state) {
    const runs = this.runsOf(state);
    return (state.pair ?? []).map((name) => runs[name]).filter(Boolean);
  }

  update(state) {
    const runs = this.runsOf(state);
    const shown = this.shown(state);
    if (shown.length < 2) return;
    if (!this.built) this.build();
    // A new comparison (other sessions) starts a new axis; the same one keeps widening.
    const comparison = Object.values(runs)
      .map((run) => run.sessionKey ?? run.sessionId)
      .join(",");
    if (comparison !== this.comparison) {
      this.comparison = comparison;
      this.axis = new FlowAxis();
      this.columns = [];
    }
    this.updatePicker(state, runs);
    const names = shown.map((run) => run.name).join(",");
    if (this.columns.map((c) => c.name).join(",") !== names) this.buildColumns(shown);
    // Widen the shared axis for both before drawing either: they must agree on it.
    for (const run of shown) this.axis.extend(flowValues(run.trace));
    this.columns.forEach((column, k) => this.updateColumn(column, shown[k], state, k));
    this.updateDifferences(shown);
    const legend = this.lossRoot.querySelectorAll(".legend-name");
    shown.forEach((run, k) => setText(legend[k], ` ${run.name} `));
    this.loss.update(state);
  }

  updatePicker(state, runs) {
    const names = Object.keys(runs);
    this.picker.hidden = names.length <= 2;
    if (this.picker.hidden) return;
    if (this.picker.dataset.names !== names.join(",")) {
      this.picker.dataset.names = names.join(",");
      clear(this.picker);
      for (const name of names) {
        const button = html("button", { type: "button", "data-setup": name, title: `Show setup ${name}: ${runs[name].label}` }, name);
        button.addEventListener("click", () => {
          const pair = state.pair.includes(name) ? state.pair : [state.pair[1], name];
          this.onPair([...pair].sort());
        });
        this.picker.append(button);
      }
    }
    for (const button of this.picker.children) button.setAttribute("aria-pressed", String(state.pair.includes(button.dataset.setup)));
  }

  buildColumns(shown) {
    this.columns = shown.map((run) => {
      const focus = html("button", { type: "button", class: "focus-button", title: `Show setup ${run.name} in the diagram, the inspector and the setup panel` }, "Inspect");
      focus.addEventListener("click", () => this.onFocus(run.name));
      const status = html("p", { class: "status compare-status", "aria-live": "polite" });
      const label = html("span", { class: "setup-label" });
      const flowRoot = html(
        "div",
        { class: "compare-flow", "data-highlight": "flow" },
        svg("svg", { class: "flow-bars", role: "img", "aria-label": `Setup ${run.name}: gradient norm per layer on the shared log scale` }),
        html("p", { class: "flow-readout readout" }),
      );
      const boundaryRoot = html(
        "div",
        { class: "compare-boundary", "data-highlight": "boundary" },
        html("canvas", { class: "boundary", role: "img", "aria-label": `Setup ${run.name}: decision boundary with training and test points` }),
        html("p", { class: "accuracy-line readout" }),
      );
      const root = html(
        "div",
        { class: "compare-column", "data-setup": run.name },
        html("div", { class: "column-head" }, html("span", { class: "setup-name", text: run.name }), label, focus),
        status,
        html("p", { class: "divergence", hidden: true }),
        flowRoot,
        boundaryRoot,
      );
      return {
        name: run.name,
        root,
        status,
        label,
        focus,
        divergence: root.querySelector(".divergence"),
        accuracy: boundaryRoot.querySelector(".accuracy-line"),
        flow: new GradientFlowView(flowRoot, { axis: this.axis }),
        boundary: new BoundaryView(boundaryRoot, { size: columnPlotSize }),
      };
    });
    this.columnsRoot.replaceChildren(...this.columns.map((c) => c.root));
  }

  updateColumn(column, run, state, k) {
    this.updateColumnHead(column, run, state, k);
    this.updateColumnViews(column, run, state);
    setText(column.accuracy, accuracyText(run.sim));
  }

  /** A column's name, focus, status line and divergence notice: the same for every kind. */
  updateColumnHead(column, run, state, k) {
    column.root.dataset.sessionId = run.sessionId ?? "";
    column.root.classList.toggle("is-focus", run.name === state.focus);
    column.root.classList.toggle(`run-${k}`, true);
    column.focus.setAttribute("aria-pressed", String(run.name === state.focus));
    setText(column.label, run.label);
    column.label.title = run.label;
    const sim = run.sim;
    setText(column.status, sim ? describeStage(sim, state.playing) : "Loading…");
    column.status.dataset.step = sim ? String(sim.step) : "";
    column.status.dataset.stage = sim ? sim.stage : "";
    const divergence = sim?.divergence;
    column.divergence.hidden = !divergence;
    if (divergence) {
      // (A recurrent network's divergence names no layer.)
      const where = divergence.layer == null ? divergence.stage : `${divergence.stage}, layer ${divergence.layer + 1}`;
      setText(column.divergence, `Diverged at step ${divergence.step} (${where}): numbers became infinite.`);
    }
  }

  /** The column's views, drawn from a state shaped like the page's own, for this run. */
  updateColumnViews(column, run, state) {
    const view = { ...state, config: run.config, sim: run.sim, trace: run.trace, history: run.history, boundary: run.boundary, data: run.data };
    if (run.config) column.flow.update(view);
    column.boundary.update(view);
  }

  /** What differs between two setups' configs ({field, a, b} per difference). */
  differencesOf(a, b) {
    return configDifferences(a, b);
  }

  updateDifferences(shown) {
    const [a, b] = shown;
    const key = `${a.name}:${JSON.stringify(a.config)}|${b.name}:${JSON.stringify(b.config)}`;
    if (this.differences.dataset.key === key) return;
    this.differences.dataset.key = key;
    const items = this.differencesOf(a.config, b.config).map(({ field, a: left, b: right }) =>
      html(
        "li",
        { "data-field": field },
        html("span", { class: "diff-field", text: `${field}: ` }),
        html("span", { class: "run-value run-0", text: `${a.name} ${left}` }),
        " · ",
        html("span", { class: "run-value run-1", text: `${b.name} ${right}` }),
      ),
    );
    if (!items.length) items.push(html("li", { class: "hint", text: "The two setups are the same (Compare with… changes one)." }));
    this.differences.replaceChildren(...items);
  }
}
