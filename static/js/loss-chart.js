// Train and test loss over steps, linear or log y-axis, with a hover readout.

import { clear, html, setAttrs, setText, svg } from "./dom.js";
import { fmt, percent, tick } from "./format.js";
import { term } from "./glossary.js";
import { linePath } from "./charts.js";
import { unchanged } from "./store.js";

const HEIGHT = 130;
const PAD = { left: 54, right: 8, top: 8, bottom: 18 };

export class LossChart {
  constructor(element, { onScale }) {
    this.root = element;
    this.chart = element.querySelector("svg.loss-chart");
    this.readout = element.querySelector(".loss-readout");
    this.accuracy = element.querySelector(".accuracy");
    for (const button of element.querySelectorAll("[data-scale]")) {
      button.addEventListener("click", () => onScale(button.dataset.scale));
    }
    this.scaleButtons = element.querySelectorAll("[data-scale]");
    this.axis = svg("g", { class: "axis" });
    this.train = svg("path", { class: "loss-train" });
    this.test = svg("path", { class: "loss-test" });
    this.cursor = svg("line", { class: "cursor", visibility: "hidden" });
    // Dots on the latest values: visible even while the curve is a single point.
    this.trainDot = svg("circle", { class: "dot-train", r: 3 });
    this.testDot = svg("circle", { class: "dot-test", r: 3 });
    this.chart.append(this.axis, this.train, this.test, this.trainDot, this.testDot, this.cursor);
    // Readouts built once: their labels are glossary terms (hover/focus for the definition),
    // only the numbers change.
    this.values = {};
    this.chart.addEventListener("pointermove", (event) => this.hover(event));
    this.chart.addEventListener("pointerleave", () => {
      setAttrs(this.cursor, { visibility: "hidden" });
      this.showLatest();
    });
  }

  update(state) {
    const width = Math.max(200, Math.floor(this.root.clientWidth - 16));
    const drawn = { history: state.history, sim: state.sim, scale: state.view.scale, width };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    this.state = state;
    setAttrs(this.chart, { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}` });
    this.width = width;
    for (const button of this.scaleButtons) button.setAttribute("aria-pressed", String(button.dataset.scale === state.view.scale));
    const history = state.history;
    const steps = history?.step ?? [];
    const log = state.view.scale === "log";
    const values = [...(history?.train_loss ?? []), ...(history?.test_loss ?? [])].filter(
      (v) => Number.isFinite(v) && (!log || v > 0),
    );
    clear(this.axis);
    if (steps.length === 0 || values.length === 0) {
      setAttrs(this.train, { d: "" });
      setAttrs(this.test, { d: "" });
      setAttrs(this.trainDot, { visibility: "hidden" });
      setAttrs(this.testDot, { visibility: "hidden" });
      this.axis.append(svg("text", { x: width / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "tick" }, "Loss appears after the first update"));
      this.showLatest();
      return;
    }
    const first = steps[0];
    const last = Math.max(steps[steps.length - 1], first + 1);
    let low = Math.min(...values);
    let high = Math.max(...values);
    if (log) {
      low = Math.log10(low);
      high = Math.log10(high);
    } else {
      low = Math.min(0, low);
    }
    if (high - low < 1e-9) high = low + 1;
    const t = (v) => (log ? Math.log10(v) : v);
    this.x = (s) => PAD.left + ((s - first) / (last - first)) * (width - PAD.left - PAD.right);
    this.y = (v) => PAD.top + (1 - (t(v) - low) / (high - low)) * (HEIGHT - PAD.top - PAD.bottom);
    const safe = (series) => series.map((v) => (log && !(v > 0) ? null : v));
    // Fast training evaluates the full data every few steps (history.evaluated): the curves
    // join the evaluated points; a null there (divergence, log of 0) still breaks them.
    const evaluated = steps.map((_, k) => history.evaluated?.[k] ?? true);
    const kept = (series) => series.filter((_, k) => evaluated[k]);
    const at = kept(steps);
    setAttrs(this.train, { d: linePath(at, kept(safe(history.train_loss ?? [])), this.x, this.y) });
    setAttrs(this.test, { d: linePath(at, kept(safe(history.test_loss ?? [])), this.x, this.y) });
    const end = evaluated.lastIndexOf(true);
    for (const [dot, series] of [
      [this.trainDot, safe(history.train_loss ?? [])],
      [this.testDot, safe(history.test_loss ?? [])],
    ]) {
      const v = series[end];
      const shown = end >= 0 && v !== null && v !== undefined && Number.isFinite(v);
      setAttrs(dot, shown ? { cx: this.x(steps[end]), cy: this.y(v), visibility: "visible" } : { visibility: "hidden" });
    }
    for (const fraction of [0, 0.5, 1]) {
      const level = low + fraction * (high - low);
      const value = log ? 10 ** level : level;
      const at = this.y(value);
      this.axis.append(
        svg("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: at, y2: at }),
        svg("text", { x: PAD.left - 4, y: at + 3, "text-anchor": "end", class: "tick" }, tick(value)),
      );
    }
    this.axis.append(
      svg("text", { x: PAD.left, y: HEIGHT - 4, class: "tick" }, `step ${first}`),
      svg("text", { x: width - PAD.right, y: HEIGHT - 4, class: "tick", "text-anchor": "end" }, `${last}`),
    );
    this.showLatest();
  }

  /** The readouts' fixed parts (labels as terms) and the spans whose numbers change. */
  buildReadouts() {
    if (this.values.train) return;
    const value = (name) => (this.values[name] = html("span", { class: `value-${name}` }));
    this.values.prefix = html("span");
    this.readout.replaceChildren(this.values.prefix, term("train_loss", "train"), " ", value("train"), " · ", term("test_loss", "test"), " ", value("test"), value("acc"));
    this.accuracy.replaceChildren(term("accuracy"), ": train ", value("trainAcc"), " · test ", value("testAcc"));
  }

  showLatest() {
    const sim = this.state?.sim;
    if (!sim) return;
    this.buildReadouts();
    setText(this.values.prefix, "");
    setText(this.values.train, fmt(sim.train_loss));
    setText(this.values.test, fmt(sim.test_loss));
    setText(this.values.acc, "");
    const classification = sim.train_accuracy !== null && sim.train_accuracy !== undefined;
    this.accuracy.hidden = !classification;
    if (classification) {
      setText(this.values.trainAcc, percent(sim.train_accuracy));
      setText(this.values.testAcc, percent(sim.test_accuracy));
    }
  }

  hover(event) {
    const history = this.state?.history;
    const steps = history?.step ?? [];
    if (!steps.length || !this.x) return;
    const box = this.chart.getBoundingClientRect();
    const px = event.clientX - box.left;
    // The nearest step whose full-data losses were evaluated.
    let best = -1;
    for (let k = 0; k < steps.length; k++) {
      if (history.evaluated && !history.evaluated[k]) continue;
      if (best < 0 || Math.abs(this.x(steps[k]) - px) < Math.abs(this.x(steps[best]) - px)) best = k;
    }
    if (best < 0) return;
    const at = this.x(steps[best]);
    setAttrs(this.cursor, { x1: at, x2: at, y1: PAD.top, y2: HEIGHT - PAD.bottom, visibility: "visible" });
    const accuracy = history.test_accuracy?.[best];
    this.buildReadouts();
    setText(this.values.prefix, `step ${steps[best]}: `);
    setText(this.values.train, fmt(history.train_loss?.[best]));
    setText(this.values.test, fmt(history.test_loss?.[best]));
    setText(this.values.acc, accuracy === null || accuracy === undefined ? "" : ` · test acc ${percent(accuracy)}`);
  }
}
