// Layer inspector: what one layer computed this step. Histograms of z, a, dz and dW; the
// activation and its derivative with the layer's z distribution laid over them, so a teacher
// can see saturation (z piled up where f′ ≈ 0); dead and saturated fractions; update ratio.

import { clear, html, svg } from "./dom.js";
import { fmt, percent } from "./format.js";
import { histogramChart, linePath } from "./charts.js";
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

function activationPlot(curve, zHistogram, { width, height, name }) {
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "activation-plot", role: "img" });
  chart.setAttribute("aria-label", `${name} and its derivative with this layer's z distribution`);
  const pad = { left: 30, right: 6, top: 16, bottom: 16 };
  const zs = curve.z;
  const zMin = zs[0];
  const zMax = zs[zs.length - 1];
  const values = [...curve.f, ...curve.fprime].filter(Number.isFinite);
  let yMin = Math.min(0, ...values);
  let yMax = Math.max(1, ...values);
  // Unbounded activations (relu, linear…) would flatten the derivative: cap the view.
  yMin = Math.max(yMin, -3);
  yMax = Math.min(yMax, 3);
  const x = (z) => pad.left + ((z - zMin) / (zMax - zMin)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (Math.max(yMin, Math.min(yMax, v)) - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
  // Bins much wider than the plotted z range would paint one misleading slab: say it instead.
  const binWidth = zHistogram ? zHistogram.edges[1] - zHistogram.edges[0] : 0;
  if (zHistogram && binWidth > (zMax - zMin) / 6) {
    const { edges } = zHistogram;
    chart.append(
      svg("text", { x: width / 2, y: height / 2 - 8, class: "chart-note", "text-anchor": "middle" },
        `z spans ${fmt(edges[0])} … ${fmt(edges[edges.length - 1])}:`),
      svg("text", { x: width / 2, y: height / 2 + 6, class: "chart-note", "text-anchor": "middle" },
        "far outside this range (saturated or exploding)"),
    );
  } else if (zHistogram) {
    const { counts, edges } = zHistogram;
    const max = Math.max(1, ...counts);
    const plotHeight = height - pad.top - pad.bottom;
    counts.forEach((count, k) => {
      const left = Math.max(zMin, edges[k]);
      const right = Math.min(zMax, edges[k + 1]);
      if (right <= left || count === 0) return;
      const barHeight = (count / max) * plotHeight;
      chart.append(
        svg("rect", { class: "z-overlay", x: x(left), width: Math.max(0.8, x(right) - x(left)), y: pad.top + plotHeight - barHeight, height: barHeight }),
      );
    });
  }
  chart.append(
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
  return chart;
}

/** Units dead on the whole training set, as "2 of 8 units (3, 7)". */
function deadUnitsText(dead) {
  const which = dead.map((d, k) => (d ? k + 1 : null)).filter((k) => k !== null);
  const count = `${which.length} of ${dead.length} units`;
  return which.length && which.length < dead.length ? `${count} (${which.join(", ")})` : count;
}

/** One statistic; a value the server has not computed (null) says why instead of a number. */
function statRow(trace, layer, [key, field, format], zone) {
  const value = layerStat(layer, field);
  const missing = value === null ? "true" : null;
  let text = field === "dead_units_train" ? (value ? deadUnitsText(value) : "—") : traceText(trace, value, format);
  const label = [term(key)];
  // Saturated means something different per activation: say where, for this one.
  if (field === "saturated_fraction" && zone) label.push(html("span", { class: "zone", text: ` (${zone})` }));
  if (field === "dead_units_train" && value === null) text = "—";
  return html(
    "div",
    { class: "stat", "data-field": field, "data-missing": missing, "data-value": value === null ? "" : JSON.stringify(value) },
    html("dt", {}, ...label),
    html("dd", { text }),
  );
}

export class LayerInspector {
  constructor(element) {
    this.root = element;
    this.drawn = null;
  }

  /** The inspector body was cleared for another view: draw from scratch next time. */
  forget() {
    this.drawn = null;
  }

  /** Rebuilds only when the selected layer's numbers changed (the trace object is replaced). */
  update(state) {
    const l = state.selection?.layer;
    const layer = state.trace?.layers?.[l];
    const drawn = { layer: l, trace: state.trace, width: this.root.clientWidth };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    clear(this.root);
    this.root.dataset.layer = String(l);
    if (!layer) {
      this.root.append(html("p", { class: "hint", text: "Layer not computed yet: step forward first." }));
      return;
    }
    const activationName = layer.activation;
    const isOutput = l === state.trace.layers.length - 1;
    this.root.append(
      html("h3", { text: `${isOutput ? "Output layer" : `Layer ${l + 1}`} · ${displayName(activationName)} · ${layer.fan_in} → ${layer.fan_out}` }),
    );
    const width = Math.max(120, Math.floor((this.root.clientWidth - 24) / 2));
    const grid = html("div", { class: "histograms" });
    for (const [name, title, colour] of HISTOGRAMS) {
      const histogram = layerHistogram(layer, name);
      grid.append(
        histogram
          ? histogramChart(histogram, { width, height: 66, colour, title })
          : html("div", { class: "histogram empty", text: `${title}: ${NOT_YET}` }),
      );
    }
    this.root.append(grid);
    const activation = state.catalog.activationByName[activationName];
    if (activation?.curve) {
      this.root.append(activationPlot(activation.curve, layerHistogram(layer, "z"), { width: width * 2 + 8, height: 110, name: activationName }));
    }
    if (activation?.formula) {
      // The engine's formulas already read "f(z) = …" and "f′(z) = …".
      this.root.append(html("p", { class: "formula", text: `${activation.formula}    ${activation.derivative_formula ?? ""}` }));
    }
    const zone = isOutput ? null : activation?.saturation_zone;
    // The output layer has no units to die on the training set (its "activation" is the head).
    const stats = STATS.filter(([, field]) => !(isOutput && field === "dead_units_train"));
    this.root.append(html("dl", { class: "stats" }, ...stats.map((stat) => statRow(state.trace, layer, stat, zone))));
  }
}
