// Compare mode for two recurrent setups (a recurrent lesson's A and B, or "Compare with…"):
// the dense compare panel's frame (head, what differs, the overlaid loss chart, the one
// transport driving both), with recurrent columns. Each column has its setup's status line,
// its network unrolled in time with the ‖∂L/∂h_t‖ bars and pulses, the gradient-reach readouts
// and the timesteps × steps heat strip. Bars, pulses and both strips share ONE log scale that
// only widens during the comparison, so RNN's 1e-8 beside LSTM's 1e-2 at t = 0 reads as the
// eight decades it is. Below, a few of the training sequences.

import { html } from "../dom.js";
import { CompareView } from "../compare-view.js";
import { HeatStrip } from "./heat-strip.js";
import { ReachView } from "./reach-view.js";
import { SequenceView } from "./sequence-view.js";
import { SharedLogScale, runGradientNorms, scaleKey } from "./shared-scale.js";
import { UnrolledView } from "./unrolled-view.js";
import { recurrentDifferences } from "./differences.js";

const COMPARE_MIN_COL = 12;

export class RecurrentCompareView extends CompareView {
  /** As CompareView, with `onTimestep(t)` (a timestep clicked in either column) and `rc`, the
   * recurrent catalog. */
  constructor(element, { onTimestep, rc, ...callbacks }) {
    super(element, callbacks);
    this.onTimestep = onTimestep;
    this.rc = rc;
    this.shared = new SharedLogScale();
    this.seen = {}; // per run: the history object and row count its values were taken from
  }

  build() {
    super.build();
    this.root.classList.add("is-recurrent-compare");
    this.sequencesRoot = html(
      "div",
      { class: "rnn-data-block rnn-compare-data" },
      html("h3", { text: "Training sequences" }),
      html("div", { class: "rnn-seq-list" }),
      html("p", { class: "rnn-seq-caption hint" }),
    );
    this.root.append(this.sequencesRoot);
    this.sequences = new SequenceView(this.sequencesRoot, this.rc);
  }

  clear() {
    if (this.built) this.root.classList.remove("is-recurrent-compare");
    super.clear();
  }

  update(state) {
    const shown = this.shown(state);
    if (shown.length < 2) return;
    // A new comparison (other sessions) starts a new scale, as the dense panel's axis.
    const comparison = Object.values(this.runsOf(state))
      .map((run) => run.sessionKey ?? run.sessionId)
      .join(",");
    if (comparison !== this.comparison) {
      this.shared = new SharedLogScale();
      this.seen = {};
    }
    // Widen the shared scale for both before drawing either: they must agree on it.
    for (const run of shown) this.extendShared(run);
    super.update(state);
    const focus = this.runsOf(state)[state.focus];
    const same = shown.every((run) => JSON.stringify(run.config?.dataset) === JSON.stringify(focus.config?.dataset));
    const note = same ? `Both setups train on these same sequences.` : `These are setup ${focus.name}'s sequences (the setup in focus); the other setup's data differ.`;
    this.sequences.update({ ...state, data: focus.data }, { note });
  }

  /** Take the run's new ‖∂L/∂h_t‖ values into the shared scale (only the history rows not
   * seen yet: a long run's history is not scanned again every frame). */
  extendShared(run) {
    const seen = this.seen[run.name];
    const rows = run.history?.dh_norm ?? [];
    const from = seen && seen.history === run.history ? rows.length : seen && rows.length >= seen.count ? seen.count : 0;
    if (from === 0) this.shared.extend(runGradientNorms({ history: run.history }));
    else for (const row of rows.slice(from)) this.shared.extend(Array.from(row ?? []));
    this.seen[run.name] = { history: run.history, count: rows.length };
    this.shared.extend((run.trace?.timesteps ?? []).map((step) => step.dh_norm));
  }

  buildColumns(shown) {
    const scale = () => this.shared.scale;
    this.columns = shown.map((run) => {
      const focus = html("button", { type: "button", class: "focus-button", title: `Show setup ${run.name} in the timestep inspector and the setup panel` }, "Inspect");
      focus.addEventListener("click", () => this.onFocus(run.name));
      const status = html("p", { class: "status compare-status", "aria-live": "polite" });
      const label = html("span", { class: "setup-label" });
      const unrolledRoot = html(
        "div",
        { class: "rnn-compare-unrolled", "data-highlight": "network" },
        html("div", { class: "rnn-scroll" }, this.unrolledSvg(run.name)),
        html("p", { class: "rnn-readout readout" }),
      );
      const timeRoot = html(
        "div",
        { class: "rnn-compare-time", "data-highlight": "flow" },
        html("p", { class: "rnn-reach readout" }),
        html("p", { class: "rnn-share readout" }),
        html("div", { class: "rnn-strip-wrap" }, html("canvas", { class: "rnn-strip", role: "img", "aria-label": `Setup ${run.name}: ‖∂L/∂h_t‖ per timestep (rows) at every training step (columns), on the scale shared with the other setup` })),
        html("p", { class: "rnn-strip-legend hint" }),
        html("p", { class: "rnn-strip-caption hint" }),
      );
      const root = html(
        "div",
        { class: "compare-column rnn-compare-column", "data-setup": run.name },
        html("div", { class: "column-head" }, html("span", { class: "setup-name", text: run.name }), label, focus),
        status,
        html("p", { class: "divergence", hidden: true }),
        unrolledRoot,
        timeRoot,
        html("p", { class: "accuracy-line readout" }),
      );
      return {
        name: run.name,
        root,
        status,
        label,
        focus,
        divergence: root.querySelector(".divergence"),
        accuracy: root.querySelector(".accuracy-line"),
        unrolled: new UnrolledView(unrolledRoot, {
          onSelectTimestep: (t) => this.onTimestep(t),
          scale,
          minCol: COMPARE_MIN_COL,
          axisTitle: "‖∂L/∂h_t‖, log scale shared by A and B",
        }),
        reach: new ReachView(timeRoot),
        strip: new HeatStrip(timeRoot, { scale }),
      };
    });
    this.columnsRoot.replaceChildren(...this.columns.map((c) => c.root));
  }

  unrolledSvg(name) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    node.setAttribute("class", "rnn-svg");
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "application");
    node.setAttribute("aria-roledescription", "unrolled recurrent network");
    node.setAttribute("aria-label", `Setup ${name} unrolled in time, with ‖∂L/∂h_t‖ per timestep on the scale shared with the other setup. Left and right arrows choose a timestep for the inspector.`);
    return node;
  }

  updateColumnHead(column, run, state, k) {
    super.updateColumnHead(column, run, state, k);
    column.status.dataset.timestep = run.sim?.stage_timestep ?? "";
  }

  updateColumnViews(column, run, state) {
    if (run.trace?.model !== "recurrent") return;
    const T = run.trace.n_timesteps;
    const view = { ...state, config: run.config, sim: run.sim, trace: run.trace, history: run.history, timestep: Math.max(0, Math.min(T - 1, state.timestep ?? T - 1)) };
    column.unrolled.update(view);
    column.reach.update(view);
    column.strip.update(view);
    column.root.dataset.scale = scaleKey(this.shared.scale);
  }

  differencesOf(a, b) {
    return recurrentDifferences(a, b);
  }
}
