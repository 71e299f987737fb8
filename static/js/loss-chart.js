// Loss over steps, linear or log y-axis, with a hover readout. For each run drawn (one, or the
// two setups of a comparison overlaid on one chart):
//
// - the minibatch loss of every step (history.batch_loss), thin: the loss backprop
//   differentiated, noisy when the batch is small;
// - the train and test loss on the whole sets, only at the steps where they were evaluated
//   (history.evaluated): those points joined by lines, never a value invented between them;
// - a marker at every step where a setting changed during the run.

import { clear, html, setAttrs, setText, svg } from "./dom.js";
import { fmt, percent, tick } from "./format.js";
import { term } from "./glossary.js";
import { reuseChildren, seriesPath } from "./charts.js";
import { unchanged } from "./store.js";
import { cssPixels, sizeOf } from "./layout-cache.js";

// Evaluated points get a dot of their own while they are few enough to tell apart.
const MOST_DOTS = 60;

/** Rows of a history (its series may run on past them: see history-rows.js). */
const rowsOf = (history) => (history?.step ? (history.points ?? history.step.length) : 0);

/** The run a single-session page draws: its history, state and setting changes. */
function singleRun(state) {
  return [{ key: "", label: "", history: state.history, sim: state.sim, markers: state.markers ?? [] }];
}

export class LossChart {
  /**
   * `runsOf(state)`: the runs to draw, [{key, label, history, sim, markers}] (default: the
   * page's one session). Runs after the first are drawn in the colours of their index.
   */
  constructor(element, { onScale, runsOf = singleRun }) {
    this.root = element;
    this.runsOf = runsOf;
    this.chart = element.querySelector("svg.loss-chart");
    this.readout = element.querySelector(".loss-readout");
    this.accuracy = element.querySelector(".accuracy"); // optional
    for (const button of element.querySelectorAll("[data-scale]")) {
      button.addEventListener("click", () => onScale(button.dataset.scale));
    }
    this.scaleButtons = element.querySelectorAll("[data-scale]");
    this.axis = svg("g", { class: "axis" });
    this.marks = svg("g", { class: "markers" });
    this.lines = svg("g", { class: "lines" });
    this.cursor = svg("line", { class: "cursor", visibility: "hidden" });
    this.chart.append(this.axis, this.marks, this.lines, this.cursor);
    this.chart.addEventListener("pointermove", (event) => this.hover(event));
    this.chart.addEventListener("pointerleave", () => {
      setAttrs(this.cursor, { visibility: "hidden" });
      this.showLatest();
    });
  }

  update(state) {
    const runs = this.runsOf(state);
    const width = Math.max(200, Math.floor(sizeOf(this.root).width - 16));
    const height = cssPixels(this.root, "--loss-height", 130);
    const tickSize = cssPixels(this.root, "--tick-size", 12);
    const drawn = { scale: state.view.scale, width, height, tickSize, ...Object.fromEntries(runs.flatMap((r, k) => [[`h${k}`, r.history], [`s${k}`, r.sim], [`m${k}`, r.markers]])) };
    if (unchanged(this.drawn, drawn) && this.drawnRuns === runs.length) return;
    this.drawn = drawn;
    this.drawnRuns = runs.length;
    this.runs = runs;
    this.height = height;
    const pad = { left: Math.round(tickSize * 4.5), right: 8, top: Math.round(tickSize * 1.3), bottom: Math.round(tickSize * 1.5) };
    this.pad = pad;
    setAttrs(this.chart, { width, height, viewBox: `0 0 ${width} ${height}` });
    for (const button of this.scaleButtons) setAttrs(button, { "aria-pressed": String(button.dataset.scale === state.view.scale) });
    const log = state.view.scale === "log";
    const shown = (v) => Number.isFinite(v) && (!log || v > 0);
    // The axes' ranges: every step, and every loss that can be drawn on this scale.
    let first = Infinity;
    let last = -Infinity;
    let low = Infinity;
    let high = -Infinity;
    for (const run of runs) {
      const history = run.history;
      if (!history?.step?.length) continue;
      const n = rowsOf(history);
      first = Math.min(first, history.step[0]);
      last = Math.max(last, history.step[n - 1]);
      for (const key of ["batch_loss", "train_loss", "test_loss"]) {
        const series = history[key] ?? [];
        for (let k = 0; k < Math.min(n, series.length); k++) {
          const v = series[k];
          if (!shown(v)) continue;
          if (v < low) low = v;
          if (v > high) high = v;
        }
      }
    }
    clear(this.marks);
    // The last step drawn (of the run in focus), for anyone reading the chart's extent.
    const steps = runs[0]?.history?.step;
    const shownRows = rowsOf(runs[0]?.history);
    setAttrs(this.chart, { "data-runs": String(runs.length), "data-last-step": shownRows ? String(steps[shownRows - 1]) : "" });
    const groups = this.runGroups(runs);
    if (!Number.isFinite(first) || !Number.isFinite(low)) {
      this.x = null;
      for (const group of groups) group.node.remove();
      this.groups = null;
      this.drawAxis(null);
      this.showLatest();
      return;
    }
    last = Math.max(last, first + 1);
    if (log) {
      low = Math.log10(low);
      high = Math.log10(high);
    } else {
      low = Math.min(0, low);
    }
    if (high - low < 1e-9) high = low + 1;
    const t = (v) => (log ? Math.log10(v) : v);
    this.x = (s) => pad.left + ((s - first) / (last - first)) * (width - pad.left - pad.right);
    this.y = (v) => pad.top + (1 - (t(v) - low) / (high - low)) * (height - pad.top - pad.bottom);
    runs.forEach((run, k) => this.drawRun(run, k, groups[k], shown, width - pad.left - pad.right));
    this.drawAxis({ low, high, log, first, last, width, height, tickSize });
    this.showLatest();
  }

  /** The chart's lines for each run, made when the runs change and reused while they stay. */
  runGroups(runs) {
    const key = runs.map((run) => run.key).join(",");
    if (this.groups && this.groupsKey === key) return this.groups;
    clear(this.lines);
    this.groupsKey = key;
    this.groups = runs.map((run, k) => {
      const paths = { batch: svg("path", { class: "loss-batch" }), train: svg("path", { class: "loss-train" }), test: svg("path", { class: "loss-test" }) };
      const dots = svg("g", { class: "dots" });
      const node = svg("g", { class: `run run-${k}`, "data-run": run.key }, paths.batch, paths.train, paths.test, dots);
      return { node, paths, dots };
    });
    return this.groups;
  }

  /** Grid lines and tick labels of the value axis, the first and last step; or, with nothing
   * to draw yet (`range` null), a note. */
  drawAxis(range) {
    if (!this.axisParts) {
      const lines = [0, 1, 2].map(() => svg("line", { class: "grid" }));
      const labels = [0, 1, 2].map(() => svg("text", { "text-anchor": "end", class: "tick" }));
      const first = svg("text", { class: "tick" });
      const last = svg("text", { class: "tick", "text-anchor": "end" });
      const empty = svg("text", { "text-anchor": "middle", class: "tick" }, "Loss appears after the first update");
      this.axisParts = { lines, labels, first, last, empty };
      this.axis.append(...lines, ...labels, first, last, empty);
    }
    const { lines, labels, first, last, empty } = this.axisParts;
    const width = this.chart.getAttribute("width");
    for (const node of [...lines, ...labels, first, last]) setAttrs(node, { visibility: range ? "visible" : "hidden" });
    setAttrs(empty, { visibility: range ? "hidden" : "visible", x: width / 2, y: this.height / 2 });
    if (!range) return;
    const { pad } = this;
    [0, 0.5, 1].forEach((fraction, k) => {
      const level = range.low + fraction * (range.high - range.low);
      const value = range.log ? 10 ** level : level;
      const at = this.y(value).toFixed(1);
      setAttrs(lines[k], { x1: pad.left, x2: range.width - pad.right, y1: at, y2: at });
      setAttrs(labels[k], { x: pad.left - 4, y: (this.y(value) + range.tickSize / 3).toFixed(1) });
      setText(labels[k], tick(value));
    });
    setAttrs(first, { x: pad.left, y: range.height - 3 });
    setText(first, `step ${range.first}`);
    setAttrs(last, { x: range.width - pad.right, y: range.height - 3 });
    setText(last, `${range.last}`);
  }

  /** One run's minibatch loss, evaluated train and test losses, and setting-change markers. */
  drawRun(run, k, group, shown, plotWidth) {
    const history = run.history;
    if (!history?.step?.length) {
      group.node.remove();
      return;
    }
    if (group.node.parentNode !== this.lines) this.lines.append(group.node);
    const steps = history.step;
    const n = rowsOf(history);
    const line = (values, keep = null) => seriesPath(steps, values ?? [], { count: n, keep, shown, px: this.x, py: this.y, columns: plotWidth });
    // Every step has its minibatch loss; a null there (divergence, log of 0) breaks the line.
    setAttrs(group.paths.batch, { d: line(history.batch_loss) });
    // Full-data losses exist only at evaluated steps: join those points and nothing else.
    const evaluated = history.evaluated ?? null;
    setAttrs(group.paths.train, { d: line(history.train_loss, evaluated) });
    setAttrs(group.paths.test, { d: line(history.test_loss, evaluated) });
    // Dots on evaluated points while they are few, and always on the latest ones.
    const at = [];
    for (let i = n - 1; i >= 0 && at.length <= MOST_DOTS; i--) if (!evaluated || evaluated[i]) at.push(i);
    const dotted = at.length <= MOST_DOTS ? at.reverse() : at.slice(0, 1);
    const dots = [];
    for (const i of dotted) {
      for (const [series, cls] of [
        [history.train_loss, "dot-train"],
        [history.test_loss, "dot-test"],
      ]) {
        const v = series?.[i];
        if (shown(v)) dots.push({ class: cls, r: 2.5, cx: this.x(steps[i]).toFixed(1), cy: this.y(v).toFixed(1) });
      }
    }
    const circles = reuseChildren(group.dots, dots.length, "circle");
    dots.forEach((dot, i) => setAttrs(circles[i], dot));
    for (const marker of run.markers ?? []) {
      if (marker.step < steps[0] || marker.step > steps[n - 1] + 1) continue;
      const x = this.x(marker.step);
      const line = svg("line", { class: `marker run-${k}`, x1: x, x2: x, y1: this.pad.top - 2, y2: this.height - this.pad.bottom, "data-step": marker.step });
      const label = svg("text", { class: `marker-label tick run-${k}`, x: x + 3, y: this.pad.top - 3 }, "▾");
      const title = svg("title", {}, `${run.label ? `${run.label}: ` : ""}after step ${marker.step}: ${marker.text}`);
      this.marks.append(svg("g", { class: "marker-group" }, title, line, label));
    }
  }

  /** The readout's fixed parts (labels as terms) and the spans whose numbers change. */
  buildReadouts() {
    const key = this.runs.map((r) => r.key).join(",");
    if (this.readoutKey === key) return;
    this.readoutKey = key;
    this.values = this.runs.map((run, k) => {
      const value = (name) => html("span", { class: `value-${name}` });
      const spans = { prefix: html("span"), batch: value("batch"), train: value("train"), test: value("test"), acc: value("acc") };
      const head = run.key ? [html("strong", { class: `run-name run-${k}`, text: run.key }), " "] : [];
      const line = html(
        "span",
        { class: "line" },
        ...head,
        spans.prefix,
        term("train_loss", "train"),
        " ",
        spans.train,
        " · ",
        term("test_loss", "test"),
        " ",
        spans.test,
        html("span", { class: "part-batch" }, " · minibatch ", spans.batch),
        html("span", { class: "part-acc" }, spans.acc),
      );
      return { spans, line };
    });
    this.readout.replaceChildren(...this.values.map((v) => v.line));
    if (this.accuracy) {
      this.accuracyValues = { train: html("span"), test: html("span") };
      this.accuracy.replaceChildren(term("accuracy"), ": train ", this.accuracyValues.train, " · test ", this.accuracyValues.test);
    }
  }

  showLatest() {
    const runs = this.runs ?? [];
    if (!runs.length || !runs.some((r) => r.sim)) return;
    this.buildReadouts();
    runs.forEach((run, k) => {
      const { spans } = this.values[k];
      const sim = run.sim;
      const batch = run.history?.batch_loss ?? [];
      const rows = Math.min(rowsOf(run.history), batch.length);
      setText(spans.prefix, "");
      setText(spans.train, fmt(sim?.train_loss));
      setText(spans.test, fmt(sim?.test_loss));
      setText(spans.batch, fmt(rows ? batch[rows - 1] : null));
      const accuracy = sim?.test_accuracy;
      // A single run shows its accuracy on a line of its own; compared runs in their line.
      setText(spans.acc, this.accuracy || accuracy === null || accuracy === undefined ? "" : ` · test acc ${percent(accuracy)}`);
    });
    if (this.accuracy) {
      const sim = runs[0].sim;
      const classification = sim?.train_accuracy !== null && sim?.train_accuracy !== undefined;
      if (this.accuracy.hidden !== !classification) this.accuracy.hidden = !classification;
      if (classification) {
        setText(this.accuracyValues.train, percent(sim.train_accuracy));
        setText(this.accuracyValues.test, percent(sim.test_accuracy));
      }
    }
  }

  hover(event) {
    if (!this.x || !this.runs?.length) return;
    const box = this.chart.getBoundingClientRect();
    const px = event.clientX - box.left;
    this.buildReadouts();
    let cursorAt = null;
    this.runs.forEach((run, k) => {
      const history = run.history;
      const steps = history?.step ?? [];
      // The nearest step whose full-data losses were evaluated.
      let best = -1;
      for (let i = 0; i < Math.min(rowsOf(history), steps.length); i++) {
        if (history.evaluated && !history.evaluated[i]) continue;
        if (best < 0 || Math.abs(this.x(steps[i]) - px) < Math.abs(this.x(steps[best]) - px)) best = i;
      }
      const { spans } = this.values[k];
      if (best < 0) return;
      cursorAt ??= this.x(steps[best]);
      const accuracy = history.test_accuracy?.[best];
      setText(spans.prefix, `step ${steps[best]}: `);
      setText(spans.train, fmt(history.train_loss?.[best]));
      setText(spans.test, fmt(history.test_loss?.[best]));
      setText(spans.batch, fmt(history.batch_loss?.[best]));
      setText(spans.acc, accuracy === null || accuracy === undefined ? "" : ` · test acc ${percent(accuracy)}`);
    });
    if (cursorAt === null) return;
    setAttrs(this.cursor, { x1: cursorAt, x2: cursorAt, y1: this.pad.top, y2: this.height - this.pad.bottom, visibility: "visible" });
  }
}
