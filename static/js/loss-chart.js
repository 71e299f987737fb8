// Loss over steps, linear or log y-axis, with a hover readout. For each run drawn (one, or the
// two setups of a comparison overlaid on one chart):
//
// - the minibatch loss of every step (history.batch_loss), thin: the loss backprop
//   differentiated, noisy when the batch is small;
// - the train and test loss on the whole sets, only at the steps where they were evaluated
//   (history.evaluated): those points joined by lines, never a value invented between them;
// - a marker at every step where a setting changed during the run.
//
// The lines are drawn on a canvas under an SVG that holds what a reader points at or reads:
// the tick labels, the markers (each with its title), the evaluated points' dots and the hover
// cursor. While playing, every frame adds a few hundred rows to series thousands of rows long;
// the axes end on round numbers (`niceUp`), so they stay put for many frames, and a frame whose
// axes did not move strokes only its new rows, continuing each line from where it stopped.
// Rows are drawn through per pixel column (the column's first, lowest, highest and last point:
// a spike stays visible however many rows share its column). The chart's text alternative is
// the readout under it (the latest losses), and it says on itself how many rows each line was
// drawn through (data-batch-rows, data-train-rows, data-test-rows) and the last step drawn.

import { clear, html, setAttrs, setText, svg } from "./dom.js";
import { fmt, percent, tick } from "./format.js";
import { term } from "./glossary.js";
import { reuseChildren } from "./charts.js";
import { unchanged } from "./store.js";
import { cssPixels, cssText, sizeOf } from "./layout-cache.js";

// Evaluated points get a dot of their own while they are few enough to tell apart.
const MOST_DOTS = 60;
// Where the step axis and a linear loss axis may end (× a power of ten): the lines fill at
// least 80 % of the width, and the axis moves once per 20–25 % of training.
const STEP_ENDS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
// … and a log loss axis (its ends are also where the three grid lines fall).
const LOG_ENDS = [1, 2, 5, 10];
// The three lines of a run, in drawing order (the minibatch loss under the evaluated ones).
const SERIES = [
  { name: "batch", key: "batch_loss", evaluated: false },
  { name: "train", key: "train_loss", evaluated: true },
  { name: "test", key: "test_loss", evaluated: true },
];

/** Whether a loss can be drawn on a linear (`log` false) or log axis: a number, > 0 on a log
 * axis (null marks a value not computed, or not finite after divergence). */
const drawable = (log) => (log ? (v) => Number.isFinite(v) && v > 0 : (v) => Number.isFinite(v));

/** Rows of a history (its series may run on past them: see history-rows.js). */
const rowsOf = (history) => (history?.step ? (history.points ?? history.step.length) : 0);

/** The smallest `ends[k] × 10^n` at or above `value` (> 0). */
export function niceUp(value, ends) {
  const unit = 10 ** Math.floor(Math.log10(value));
  for (const end of ends) if (end * unit >= value * (1 - 1e-12)) return end * unit;
  return 10 * unit;
}

/** The largest `ends[k] × 10^n` at or below `value` (> 0); `ends` starts with 1. */
export function niceDown(value, ends) {
  const unit = 10 ** Math.floor(Math.log10(value));
  for (let k = ends.length - 1; k >= 0; k--) if (ends[k] * unit <= value * (1 + 1e-12)) return ends[k] * unit;
  return unit;
}

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
    this.canvas = element.querySelector("canvas.loss-lines");
    this.context = this.canvas.getContext("2d");
    this.readout = element.querySelector(".loss-readout");
    this.accuracy = element.querySelector(".accuracy"); // optional
    for (const button of element.querySelectorAll("[data-scale]")) {
      button.addEventListener("click", () => onScale(button.dataset.scale));
    }
    this.scaleButtons = element.querySelectorAll("[data-scale]");
    this.axis = svg("g", { class: "axis" });
    this.marks = svg("g", { class: "markers" });
    this.dots = svg("g", { class: "dots" });
    this.cursor = svg("line", { class: "cursor", visibility: "hidden" });
    this.chart.append(this.axis, this.marks, this.dots, this.cursor);
    this.chart.addEventListener("pointermove", (event) => this.hover(event));
    this.chart.addEventListener("pointerleave", () => {
      setAttrs(this.cursor, { visibility: "hidden" });
      this.showLatest();
    });
    this.plot = null; // what the canvas holds: its axes, and per run and line where it stopped
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
    // The frame of the chart (its size, the scale buttons) changes seldom: written only then.
    const frame = `${width}|${height}|${state.view.scale}`;
    if (this.frameDrawn !== frame) {
      this.frameDrawn = frame;
      setAttrs(this.chart, { width, height, viewBox: `0 0 ${width} ${height}` });
      for (const button of this.scaleButtons) setAttrs(button, { "aria-pressed": String(button.dataset.scale === state.view.scale) });
    }
    const log = state.view.scale === "log";
    // The data's ranges: every step, and every loss that can be drawn on this scale.
    let first = Infinity;
    let last = -Infinity;
    let low = Infinity;
    let high = -Infinity;
    this.scans = runs.map((run, k) => scanRows(run.history, log, this.scans?.[k]));
    runs.forEach((run, k) => {
      const scan = this.scans[k];
      if (!scan.rows) return;
      first = Math.min(first, run.history.step[0]);
      last = Math.max(last, run.history.step[scan.rows - 1]);
      low = Math.min(low, scan.low);
      high = Math.max(high, scan.high);
    });
    // The last step drawn (of the run in focus), for anyone reading the chart's extent.
    const steps = runs[0]?.history?.step;
    const shownRows = rowsOf(runs[0]?.history);
    setAttrs(this.chart, { "data-runs": String(runs.length), "data-last-step": shownRows ? String(steps[shownRows - 1]) : "" });
    if (!Number.isFinite(first) || !Number.isFinite(low)) {
      this.x = null;
      this.plot = null;
      this.sizeCanvas(width, height);
      this.context.clearRect(0, 0, this.canvas.width, this.canvas.height);
      clear(this.marks);
      reuseChildren(this.dots, 0, "circle");
      this.drawAxis(null);
      this.countRows([]);
      this.showLatest();
      return;
    }
    const axes = this.axesFor({ first, last, low, high, log, width, height, tickSize });
    const style = this.lineStyles(runs.length);
    const markers = runs.map((run) => run.markers);
    const plot = this.plot;
    const same = plot && unchanged(plot.axes, axes) && plot.style === style && plot.keys === runs.map((r) => r.key).join(",") && markers.every((m, k) => m === plot.markers[k]);
    // Where each run's lines go on from: the rows added since the canvas last drew them. A
    // history thinned out (history-rows.js halves a long one) is the same run with fewer rows:
    // the canvas keeps what it drew and goes on after the row it stopped at. Any other history
    // (a reset, a rewind, another run) starts the canvas again, as new axes do.
    const from = runs.map((run, k) => (same ? resumeRow(plot.runs[k], run.history) : 0));
    if (!same || from.some((row) => row < 0)) {
      this.startPlot(runs, axes, style, markers);
      from.fill(0);
    }
    runs.forEach((run, k) => this.drawRun(run, k, from[k]));
    this.drawDots(runs);
    this.countRows(this.plot.lines);
    this.showLatest();
  }

  /** The axes for these data ranges: round ends, so they change seldom. */
  axesFor({ first, last, low, high, log, width, height, tickSize }) {
    last = Math.max(last, first + 1);
    // The step axis ends at a round step (from step `first` when a round end would squeeze
    // the lines into less than the 80 % of the width they would fill from step 0).
    const round = Math.round(niceUp(last, STEP_ENDS));
    const end = (last - first) / (round - first) >= 0.8 ? round : first + Math.round(niceUp(last - first, STEP_ENDS));
    if (log) {
      low = Math.log10(niceDown(low, LOG_ENDS));
      high = Math.log10(niceUp(high, LOG_ENDS));
    } else {
      low = Math.min(0, low) < 0 ? -niceUp(-low, STEP_ENDS) : 0;
      high = high > 0 ? niceUp(high, STEP_ENDS) : low + 1;
    }
    if (high - low < 1e-9) high = low + 1;
    return { first, last: end, low, high, log, width, height, tickSize };
  }

  /** Colours of the lines, from the stylesheet (comparisons draw each run in its colour). */
  lineStyles(count) {
    // Read again when the page's mode (presenter, compare: the classes of body and #app) or
    // the number of runs changed.
    const mode = `${count}|${document.body.className}|${document.getElementById("app")?.className ?? ""}`;
    if (this.styleMode === mode) return this.style;
    this.styleMode = mode;
    const canvas = this.canvas;
    const colour = (name, fallback) => cssText(canvas, name, fallback);
    const key = [colour("--loss-train", "#2166ac"), colour("--loss-test", "#e08214"), colour("--loss-batch", "#6fa8d6"), colour("--loss-batch-opacity", "0.7"), ...Array.from({ length: count }, (_, k) => colour(`--run-${k}`, "#555"))].join("|");
    if (this.styleKey === key) return this.style;
    const [train, test, batch, batchOpacity, ...runColours] = key.split("|");
    const compared = count > 1;
    this.styleKey = key;
    this.style = runColours.map((run) => ({
      batch: { colour: compared ? run : batch, width: 1, alpha: Number(batchOpacity) || 0.7, dash: [] },
      train: { colour: compared ? run : train, width: 2, alpha: 1, dash: [] },
      test: { colour: compared ? run : test, width: 2, alpha: 1, dash: [5, 3] },
    }));
    return this.style;
  }

  /** A fresh canvas for new axes: grid lines, tick labels and markers; no line drawn yet. */
  startPlot(runs, axes, style, markers) {
    const { first, last, low, high, log, width, height } = axes;
    const { pad } = this;
    this.x = (s) => pad.left + ((s - first) / (last - first)) * (width - pad.left - pad.right);
    this.y = (v) => pad.top + (1 - ((log ? Math.log10(v) : v) - low) / (high - low)) * (height - pad.top - pad.bottom);
    this.plot = {
      axes,
      style,
      markers,
      keys: runs.map((r) => r.key).join(","),
      runs: runs.map(() => null),
      lines: runs.map(() => ({ batch: null, train: null, test: null })),
    };
    this.sizeCanvas(width, height);
    const context = this.context;
    const ratio = this.canvas.width / width;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    context.lineJoin = "round";
    context.lineCap = "butt";
    // Grid lines under the loss lines; their labels are text in the SVG.
    context.strokeStyle = cssText(this.canvas, "--loss-grid", "#e6e9ed");
    context.lineWidth = 1;
    context.globalAlpha = 1;
    context.setLineDash([]);
    context.beginPath();
    for (const value of this.gridValues(axes)) {
      const at = Math.round(this.y(value)) + 0.5;
      context.moveTo(pad.left, at);
      context.lineTo(width - pad.right, at);
    }
    context.stroke();
    this.drawAxis(axes);
    clear(this.marks);
    runs.forEach((run, k) => this.drawMarkers(run, k));
  }

  /** The canvas at the chart's size, sharp on high-density screens (resized only on change). */
  sizeCanvas(width, height) {
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(width * ratio);
    const h = Math.round(height * ratio);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
  }

  /** The loss values of the three grid lines: the axis's ends and its middle (on a log axis,
   * the power of ten nearest the middle, when one lies between the ends). */
  gridValues({ low, high, log }) {
    if (!log) return [low, (low + high) / 2, high];
    const middle = Math.round((low + high) / 2);
    return [10 ** low, middle > low && middle < high ? 10 ** middle : 10 ** ((low + high) / 2), 10 ** high];
  }

  /** Tick labels of the value axis, the first and last step; or, with nothing to draw yet
   * (`axes` null), a note. */
  drawAxis(axes) {
    if (!this.axisParts) {
      const labels = [0, 1, 2].map(() => svg("text", { "text-anchor": "end", class: "tick" }));
      const first = svg("text", { class: "tick" });
      const last = svg("text", { class: "tick", "text-anchor": "end" });
      const empty = svg("text", { "text-anchor": "middle", class: "tick" }, "Loss appears after the first update");
      this.axisParts = { labels, first, last, empty };
      this.axis.append(...labels, first, last, empty);
    }
    const { labels, first, last, empty } = this.axisParts;
    const width = this.chart.getAttribute("width");
    for (const node of [...labels, first, last]) setAttrs(node, { visibility: axes ? "visible" : "hidden" });
    setAttrs(empty, { visibility: axes ? "hidden" : "visible", x: width / 2, y: this.height / 2 });
    if (!axes) return;
    const { pad } = this;
    this.gridValues(axes).forEach((value, k) => {
      setAttrs(labels[k], { x: pad.left - 4, y: (this.y(value) + axes.tickSize / 3).toFixed(1) });
      setText(labels[k], tick(value));
    });
    setAttrs(first, { x: pad.left, y: axes.height - 3 });
    setText(first, `step ${axes.first}`);
    setAttrs(last, { x: axes.width - pad.right, y: axes.height - 3 });
    setText(last, `${axes.last}`);
  }

  /** A run's setting-change markers: a dashed line at the step, its change as a title. */
  drawMarkers(run, k) {
    const history = run.history;
    const n = rowsOf(history);
    if (!n) return;
    const steps = history.step;
    for (const marker of run.markers ?? []) {
      if (marker.step < steps[0] || marker.step > this.plot.axes.last) continue;
      const x = this.x(marker.step);
      const line = svg("line", { class: `marker run-${k}`, x1: x, x2: x, y1: this.pad.top - 2, y2: this.height - this.pad.bottom, "data-step": marker.step });
      const label = svg("text", { class: `marker-label tick run-${k}`, x: x + 3, y: this.pad.top - 3 }, "▾");
      const title = svg("title", {}, `${run.label ? `${run.label}: ` : ""}after step ${marker.step}: ${marker.text}`);
      this.marks.append(svg("g", { class: "marker-group" }, title, line, label));
    }
  }

  /** Stroke run `k`'s rows from row `from` on (those the canvas does not hold yet): each line
   * continues from the point it stopped at. */
  drawRun(run, k, from) {
    const history = run.history;
    const n = rowsOf(history);
    if (!n) return;
    const batch = history.batch_loss ?? [];
    this.plot.runs[k] = { steps: history.step, batch: history.batch_loss, rows: n, first: history.step[0], lastStep: history.step[n - 1], lastBatch: batch[n - 1] };
    if (from >= n) return;
    const shown = drawable(this.plot.axes.log);
    const steps = history.step;
    const evaluated = history.evaluated ?? null;
    const lines = this.plot.lines[k];
    for (const { name, key, evaluated: onlyEvaluated } of SERIES) {
      lines[name] ??= { pen: null, length: 0, rows: 0 };
      const values = history[key] ?? [];
      const style = this.plot.style[k][name];
      const context = this.context;
      context.strokeStyle = style.colour;
      context.lineWidth = style.width;
      context.globalAlpha = style.alpha;
      context.setLineDash(style.dash);
      // A dashed line goes on with its pattern where the last stroke left it.
      context.lineDashOffset = lines[name].pen ? lines[name].length : 0;
      context.beginPath();
      traceRows(context, lines[name], { steps, values, keep: onlyEvaluated ? evaluated : null, from, to: Math.min(n, values.length, steps.length), shown, px: this.x, py: this.y });
      context.stroke();
    }
    this.context.globalAlpha = 1;
    this.context.setLineDash([]);
  }

  /** Dots on evaluated points while they are few, and always on the latest ones. */
  drawDots(runs) {
    const dots = [];
    runs.forEach((run, k) => {
      const history = run.history;
      const n = rowsOf(history);
      if (!n) return;
      const steps = history.step;
      const shown = drawable(this.plot.axes.log);
      const { evaluated } = this.scans[k];
      const dotted = evaluated.length <= MOST_DOTS ? evaluated : evaluated.slice(-1);
      for (const i of dotted) {
        for (const [series, cls] of [
          [history.train_loss, "dot-train"],
          [history.test_loss, "dot-test"],
        ]) {
          const v = series?.[i];
          if (shown(v)) dots.push({ class: `${cls} run-${k}`, r: 2.5, cx: this.x(steps[i]).toFixed(1), cy: this.y(v).toFixed(1) });
        }
      }
    });
    // (Moved by attributes: as elements moved by a transform they made the browser work out
    // the page's layers again every frame, which cost more than the SVG's small relayout.)
    const circles = reuseChildren(this.dots, dots.length, "circle");
    dots.forEach((dot, i) => setAttrs(circles[i], dot));
  }

  /** How many rows each line of the run in focus was drawn through since its axes were set
   * (rows a long history has thinned out since included: the canvas still shows them). */
  countRows(lines) {
    const line = lines[0] ?? {};
    setAttrs(this.chart, { "data-batch-rows": String(line.batch?.rows ?? 0), "data-train-rows": String(line.train?.rows ?? 0), "data-test-rows": String(line.test?.rows ?? 0) });
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

/**
 * The row of `history` after the one the canvas stopped at (`held`: what it drew of the run,
 * null for nothing yet): the rows it has not drawn. -1 when `history` is not the run the canvas
 * holds, grown (the same series, longer) or thinned out (the same first step, and the row it
 * stopped at with the same minibatch loss).
 */
function resumeRow(held, history) {
  if (held === null) return 0;
  const n = rowsOf(history);
  if (held.steps === history?.step && held.batch === history?.batch_loss && held.rows <= n) return held.rows;
  if (!n || history.step[0] !== held.first) return -1;
  // Steps increase down the rows: find the one the canvas stopped at by halving.
  let low = 0;
  let high = n - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (history.step[middle] < held.lastStep) low = middle + 1;
    else high = middle;
  }
  return history.step[low] === held.lastStep && history.batch_loss?.[low] === held.lastBatch ? low + 1 : -1;
}

/**
 * What the chart needs to know of a history's rows: how many, the lowest and highest loss that
 * can be drawn on this scale (`log` or not), and which rows were evaluated (their indices,
 * only the last once there are more than MOST_DOTS + 1). `held` (the last scan) is carried on
 * over the rows added since while the history's series are the same arrays, grown.
 */
function scanRows(history, log, held) {
  const rows = rowsOf(history);
  const same = held && held.steps === history?.step && held.batch === history?.batch_loss && held.log === log && held.rows <= rows;
  const scan = same ? { ...held, evaluated: held.evaluated.slice(-(MOST_DOTS + 1)) } : { steps: history?.step, batch: history?.batch_loss, log, rows: 0, low: Infinity, high: -Infinity, evaluated: [] };
  if (!rows) return scan;
  const shown = drawable(log);
  for (const { key } of SERIES) {
    const series = history[key] ?? [];
    for (let k = scan.rows; k < Math.min(rows, series.length); k++) {
      const v = series[k];
      if (!shown(v)) continue;
      if (v < scan.low) scan.low = v;
      if (v > scan.high) scan.high = v;
    }
  }
  const evaluated = history.evaluated;
  for (let k = scan.rows; k < rows; k++) {
    if (evaluated && !evaluated[k]) continue;
    scan.evaluated.push(k);
    if (scan.evaluated.length > 2 * (MOST_DOTS + 1)) scan.evaluated = scan.evaluated.slice(-(MOST_DOTS + 1));
  }
  scan.rows = rows;
  return scan;
}

/**
 * Add rows `from`..`to`-1 of one series to the context's path, continuing `line` (where the
 * last stroke of this line stopped: {pen: [x, y] or null, length, rows}) and updating it.
 * Rows that `keep` rules out (when given) are skipped; a value that cannot be drawn
 * (`shown(v)` false) breaks the line. Rows sharing a pixel column are drawn through their
 * first, lowest, highest and last point, in row order (M4 aggregation): the line looks the
 * same as through every row, and a spike stays. `line.length` is the length drawn since the
 * last break (where a dashed line's pattern goes on from); `line.rows` counts the rows drawn.
 */
export function traceRows(context, line, { steps, values, keep, from, to, shown, px, py }) {
  const point = (k) => {
    const x = px(steps[k]);
    const y = py(values[k]);
    const pen = line.pen;
    if (pen) {
      if (!line.moved) context.moveTo(pen[0], pen[1]);
      context.lineTo(x, y);
      line.length += Math.hypot(x - pen[0], y - pen[1]);
    } else {
      context.moveTo(x, y);
      line.length = 0;
    }
    line.moved = true;
    line.pen = [x, y];
  };
  line.moved = false; // this call's path has not started from the pen yet
  let column = 0;
  let first = -1; // the column's first, lowest, highest and last row (indices)
  let low = -1;
  let high = -1;
  let last = -1;
  const flush = () => {
    if (first < 0) return;
    const early = Math.min(low, high);
    const late = Math.max(low, high);
    point(first);
    if (early > first) point(early);
    if (late > early) point(late);
    if (last > late) point(last);
    first = -1;
  };
  for (let k = from; k < to; k++) {
    if (keep && !keep[k]) continue;
    const v = values[k];
    if (!shown(v)) {
      flush();
      line.pen = null;
      continue;
    }
    line.rows += 1;
    const at = Math.round(px(steps[k]));
    if (first < 0 || at !== column) {
      flush();
      column = at;
      first = low = high = last = k;
      continue;
    }
    if (v < values[low]) low = k;
    if (v > values[high]) high = k;
    last = k;
  }
  flush();
}
