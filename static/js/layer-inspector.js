// Layer inspector: what one layer computed this step. Histograms of z, a, dz and dW; the
// activation and its derivative with the layer's z distribution laid over them, so a teacher
// can see saturation (z piled up where f′ ≈ 0); dead and saturated fractions; update ratio.

import { html, setAttrs, setText, svg } from "./dom.js";
import { fmt, percent } from "./format.js";
import { barPath, HistogramGrid, linePath } from "./charts.js";
import { sizeOf } from "./layout-cache.js";
import { layerHistogram, layerStat, NOT_YET, traceText } from "./trace-fields.js";
import { displayName } from "./names.js";
import { term } from "./glossary.js";
import { unchanged } from "./store.js";

// Per-layer statistics of the trace: glossary key (its label and definition), field, format.
const STATS = [
  ["dead_fraction", "dead_fraction", percent],
  ["dead_units_train", "dead_units_train", null],
  ["saturated_fraction", "saturated_fraction", percent],
  ["update_ratio", "update_ratio", fmt],
  ["grad_norm", "grad_norm", fmt],
  ["mean_abs_dz", "mean_abs_dz", fmt],
  ["mean_abs_fprime", "mean_abs_fprime", fmt],
];

const HISTOGRAMS = [
  ["z", "z (pre-activation)", "#6b7785"],
  ["a", "a = f(z)", "#4393c3"],
  ["dz", "dz = ∂L/∂z", "#e08214"],
  ["dW", "dW = ∂L/∂W", "#b35806"],
];

/** The activation and its derivative (drawn once per activation and size), with the layer's
 * z distribution laid over them (updated in place each step). */
class ActivationPlot {
  constructor(curve, { width, height, name }) {
    this.node = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "activation-plot", role: "img" });
    this.node.setAttribute("aria-label", `${name} and its derivative with this layer's z distribution`);
    const pad = { left: 30, right: 6, top: 16, bottom: 16 };
    const zs = curve.z;
    this.zMin = zs[0];
    this.zMax = zs[zs.length - 1];
    this.pad = pad;
    this.height = height;
    const values = [...curve.f, ...curve.fprime].filter(Number.isFinite);
    // Unbounded activations (relu, linear…) would flatten the derivative: cap the view.
    const yMin = Math.max(Math.min(0, ...values), -3);
    const yMax = Math.min(Math.max(1, ...values), 3);
    this.x = (z) => pad.left + ((z - this.zMin) / (this.zMax - this.zMin)) * (width - pad.left - pad.right);
    const x = this.x;
    const y = (v) => pad.top + (1 - (Math.max(yMin, Math.min(yMax, v)) - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
    this.overlay = svg("path", { class: "z-overlay" }); // the z histogram's bars, one path
    this.note = svg("g", { visibility: "hidden" });
    this.noteRange = svg("text", { x: width / 2, y: height / 2 - 8, class: "chart-note", "text-anchor": "middle" });
    this.note.append(
      this.noteRange,
      svg("text", { x: width / 2, y: height / 2 + 6, class: "chart-note", "text-anchor": "middle" }, "far outside this range (saturated or exploding)"),
    );
    const { zMin, zMax } = this;
    this.node.append(
      this.overlay,
      this.note,
      svg("line", { class: "zero", x1: x(zMin), x2: x(zMax), y1: y(0), y2: y(0) }),
      svg("line", { class: "zero", x1: x(0), x2: x(0), y1: pad.top, y2: height - pad.bottom }),
      svg("path", { class: "curve-f", d: linePath(zs, curve.f, x, y) }),
      svg("path", { class: "curve-fprime", d: linePath(zs, curve.fprime, x, y) }),
      svg("text", { x: 2, y: 11, class: "chart-title" }, `${name} · f solid · f′ dashed · z bars`),
      svg("text", { x: pad.left - 3, y: y(yMax) + 8, class: "tick", "text-anchor": "end" }, fmt(yMax)),
      svg("text", { x: pad.left - 3, y: y(yMin), class: "tick", "text-anchor": "end" }, fmt(yMin)),
      svg("text", { x: x(zMin), y: height - 3, class: "tick" }, fmt(zMin)),
      svg("text", { x: x(zMax), y: height - 3, class: "tick", "text-anchor": "end" }, fmt(zMax)),
    );
  }

  /** The z histogram over the curves (null: none yet). */
  update(zHistogram) {
    const { zMin, zMax, x, pad, height } = this;
    // Bins much wider than the plotted z range would paint one misleading slab: say it instead.
    const binWidth = zHistogram ? zHistogram.edges[1] - zHistogram.edges[0] : 0;
    const tooWide = Boolean(zHistogram) && binWidth > (zMax - zMin) / 6;
    setAttrs(this.note, { visibility: tooWide ? "visible" : "hidden" });
    if (tooWide) {
      const { edges } = zHistogram;
      setText(this.noteRange, `z spans ${fmt(edges[0])} … ${fmt(edges[edges.length - 1])}:`);
    }
    const bins = [];
    if (zHistogram && !tooWide) {
      const { counts, edges } = zHistogram;
      let max = 1;
      for (const count of counts) if (count > max) max = count;
      const plotHeight = height - pad.top - pad.bottom;
      for (let k = 0; k < counts.length; k++) {
        const left = Math.max(zMin, edges[k]);
        const right = Math.min(zMax, edges[k + 1]);
        if (right <= left || counts[k] === 0) continue;
        const barHeight = (counts[k] / max) * plotHeight;
        bins.push(barPath(x(left), pad.top + plotHeight - barHeight, Math.max(0.8, x(right) - x(left)), barHeight));
      }
    }
    setAttrs(this.overlay, { d: bins.join("") });
  }
}

/** Units dead on the whole training set, as "2 of 8 units (3, 7)". */
function deadUnitsText(dead) {
  const which = dead.map((d, k) => (d ? k + 1 : null)).filter((k) => k !== null);
  const count = `${which.length} of ${dead.length} units`;
  return which.length && which.length < dead.length ? `${count} (${which.join(", ")})` : count;
}

/** One statistic's row: its label (made once) and its value (`fillStat` each step). */
function statRow([key, field], zone) {
  const label = [term(key)];
  // Saturated means something different per activation: say where, for this one.
  if (field === "saturated_fraction" && zone) label.push(html("span", { class: "zone", text: ` (${zone})` }));
  return html("div", { class: "stat", "data-field": field }, html("dt", {}, ...label), html("dd"));
}

/** A statistic's value; one the server has not computed (null) says why instead of a number. */
function fillStat(row, trace, layer, [, field, format]) {
  const value = layerStat(layer, field);
  let text = field === "dead_units_train" ? (value ? deadUnitsText(value) : "—") : traceText(trace, value, format);
  if (field === "dead_units_train" && value === null) text = "—";
  if (value === null) row.dataset.missing = "true";
  else delete row.dataset.missing;
  const data = value === null ? "" : JSON.stringify(value);
  if (row.dataset.value !== data) row.dataset.value = data;
  setText(row.lastElementChild, text);
}

export class LayerInspector {
  constructor(element) {
    this.root = element;
    this.drawn = null;
    this.shape = "";
  }

  /** The inspector body was cleared for another view: draw from scratch next time. */
  forget() {
    this.drawn = null;
    this.shape = "";
  }

  /** Builds the panel when the layer (or its size) changes; a new trace only updates the
   * numbers, the histograms' bars and the z overlay in place. */
  update(state) {
    const l = state.selection?.layer;
    const layer = state.trace?.layers?.[l];
    const width = sizeOf(this.root).width;
    const drawn = { layer: l, trace: state.trace, width };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    this.root.dataset.layer = String(l);
    if (!layer) {
      this.shape = "";
      this.root.replaceChildren(html("p", { class: "hint", text: "Layer not computed yet: step forward first." }));
      return;
    }
    const isOutput = l === state.trace.layers.length - 1;
    const shape = `${l}|${isOutput}|${layer.activation}|${layer.fan_in}|${layer.fan_out}|${width}`;
    if (shape !== this.shape) {
      this.shape = shape;
      this.build(state, layer, isOutput, width);
    }
    // Each histogram, or in its place a note saying why there is none yet.
    this.histograms.update(HISTOGRAMS.map(([name]) => layerHistogram(layer, name)));
    setText(this.stepLabel, `· numbers of step ${state.trace.step}`);
    this.plot?.update(layerHistogram(layer, "z"));
    this.stats.forEach(({ row, stat }) => fillStat(row, state.trace, layer, stat));
  }

  build(state, layer, isOutput, rootWidth) {
    const l = state.selection.layer;
    const activationName = layer.activation;
    // The step its numbers are of: while playing, the page may show them a few frames behind
    // the status line.
    this.stepLabel = html("span", { class: "numbers-step" });
    const title = `${isOutput ? "Output layer" : `Layer ${l + 1}`} · ${displayName(activationName)} · ${layer.fan_in} → ${layer.fan_out}`;
    const parts = [html("h3", {}, title, " ", this.stepLabel)];
    const width = Math.max(120, Math.floor((rootWidth - 24) / 2));
    const specs = HISTOGRAMS.map(([, title, colour]) => ({ title, colour }));
    this.histograms = new HistogramGrid({ specs, cellWidth: width, cellHeight: 66, missing: NOT_YET });
    parts.push(this.histograms.node);
    const activation = state.catalog.activationByName[activationName];
    this.plot = activation?.curve ? new ActivationPlot(activation.curve, { width: width * 2 + 8, height: 110, name: activationName }) : null;
    if (this.plot) parts.push(this.plot.node);
    if (activation?.formula) {
      // The engine's formulas already read "f(z) = …" and "f′(z) = …".
      parts.push(html("p", { class: "formula", text: `${activation.formula}    ${activation.derivative_formula ?? ""}` }));
    }
    const zone = isOutput ? null : activation?.saturation_zone;
    // The output layer has no units to die on the training set (its "activation" is the head).
    const stats = STATS.filter(([, field]) => !(isOutput && field === "dead_units_train"));
    this.stats = stats.map((stat) => ({ stat, row: statRow(stat, zone) }));
    parts.push(html("dl", { class: "stats" }, ...this.stats.map(({ row }) => row)));
    this.root.replaceChildren(...parts);
  }
}
