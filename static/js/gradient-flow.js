// Gradient-flow panel: per-layer ‖dW‖ and mean |dz| on a log axis (x = layer, as in the
// diagram, so vanishing gradients shrink towards the inputs), the layer-to-layer ratio and its
// two factors on hover, and a layers × steps heat strip of log10 ‖dW‖ over the history.

import { clear, setAttrs, setText, svg } from "./dom.js";
import { fmt, layerName } from "./format.js";
import { SEQUENTIAL_TABLE } from "./palette.js";
import { layerStat, traceText } from "./trace-fields.js";
import { unchanged } from "./store.js";

const HEIGHT = 150;
const PAD = { left: 40, right: 8, top: 8, bottom: 20 };

/** Per-layer series of ‖dW‖ from a history response: grad_norm[layer][point] (layer-major). */
export function historyGradNorms(history) {
  const rows = history?.grad_norm;
  return Array.isArray(rows) && rows.length ? rows : null;
}

export class GradientFlowView {
  constructor(element) {
    this.root = element;
    this.chart = element.querySelector("svg.flow-bars");
    this.readout = element.querySelector(".flow-readout");
    this.strip = element.querySelector("canvas.flow-strip");
    this.stripLabel = element.querySelector(".flow-strip-label");
    this.groups = [];
    this.signature = "";
    this.hovered = null;
    this.strip.addEventListener("pointermove", (event) => this.hoverStrip(event));
    this.strip.addEventListener("pointerleave", () => this.state && this.drawStrip(this.state));
  }

  /** Read one cell of the heat strip: which layer, which step, what ‖dW‖. */
  hoverStrip(event) {
    const rows = historyGradNorms(this.state?.history);
    if (!rows?.[0]?.length) return;
    const box = this.strip.getBoundingClientRect();
    const fx = (event.clientX - box.left) / box.width;
    const fy = (event.clientY - box.top) / box.height;
    const l = rows.length - 1 - Math.min(rows.length - 1, Math.floor(fy * rows.length));
    const k = Math.min(rows[0].length - 1, Math.floor(fx * rows[0].length));
    const step = this.state.history.step?.[k] ?? k;
    setText(this.stripLabel, `step ${step} · ${layerName(l, rows.length, true)}: ‖dW‖ ${fmt(rows[l][k])}`);
  }

  build(count, width) {
    clear(this.chart);
    setAttrs(this.chart, { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}` });
    this.axis = svg("g", { class: "axis" });
    this.chart.append(this.axis);
    const band = (width - PAD.left - PAD.right) / count;
    this.band = band;
    this.groups = Array.from({ length: count }, (_, l) => {
      const x = PAD.left + l * band;
      const hit = svg("rect", { class: "hit", x, y: PAD.top, width: band, height: HEIGHT - PAD.top - PAD.bottom });
      const dW = svg("rect", { class: "bar-dw", x: x + band * 0.14, width: band * 0.36 });
      const dz = svg("rect", { class: "bar-dz", x: x + band * 0.52, width: band * 0.3 });
      const label = svg("text", { class: "tick", x: x + band / 2, y: HEIGHT - 6, "text-anchor": "middle" });
      setText(label, layerName(l, count, true));
      const group = svg("g", { class: "flow-bar", tabindex: 0, "data-layer": l }, hit, dW, dz, label);
      group.addEventListener("pointerenter", () => this.showFactors(l));
      group.addEventListener("focus", () => this.showFactors(l));
      group.addEventListener("click", () => this.showFactors(l));
      this.chart.append(group);
      return { group, dW, dz };
    });
  }

  update(state) {
    const layers = state.trace?.layers ?? [];
    const count = layers.length || state.config.layers.length + 1;
    const width = Math.max(200, Math.floor(this.root.clientWidth - 16));
    const drawn = { trace: state.trace, history: state.history, width, count };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    const signature = `${count}|${width}`;
    if (signature !== this.signature) {
      this.build(count, width);
      this.signature = signature;
    }
    this.state = state;
    const norms = layers.map((layer) => layerStat(layer, "grad_norm"));
    const dzs = layers.map((layer) => layerStat(layer, "mean_abs_dz"));
    const positive = [...norms, ...dzs].filter((v) => v > 0 && Number.isFinite(v));
    let low = positive.length ? Math.floor(Math.log10(Math.min(...positive))) : -6;
    let high = positive.length ? Math.ceil(Math.log10(Math.max(...positive))) : 1;
    if (high - low < 3) low = high - 3;
    if (high === low) high += 1;
    const bottom = HEIGHT - PAD.bottom;
    const y = (v) => bottom - ((Math.log10(v) - low) / (high - low)) * (bottom - PAD.top);
    this.drawAxis(low, high, y);
    this.groups.forEach(({ group, dW, dz }, l) => {
      const norm = norms[l];
      const meanDz = dzs[l];
      group.dataset.gradNorm = norm === null || norm === undefined ? "" : String(norm);
      group.dataset.meanAbsDz = meanDz === null || meanDz === undefined ? "" : String(meanDz);
      const text = (value) => traceText(state.trace, value, fmt);
      group.setAttribute("aria-label", `${layerName(l, count)}: ‖dW‖ ${text(norm)}, mean |dz| ${text(meanDz)}`);
      for (const [bar, value] of [
        [dW, norm],
        [dz, meanDz],
      ]) {
        const top = value > 0 && Number.isFinite(value) ? Math.max(PAD.top, y(value)) : bottom;
        setAttrs(bar, { y: top.toFixed(1), height: Math.max(0, bottom - top).toFixed(1) });
      }
    });
    this.drawStrip(state);
    if (this.hovered !== null && this.hovered < count) this.showFactors(this.hovered);
    else this.showSummary(norms);
  }

  drawAxis(low, high, y) {
    clear(this.axis);
    const step = Math.max(1, Math.ceil((high - low) / 7)); // at most ~8 labelled decades
    for (let e = low; e <= high; e += step) {
      const at = y(10 ** e);
      this.axis.append(
        svg("line", { x1: PAD.left - 3, x2: this.chart.width.baseVal.value - PAD.right, y1: at, y2: at, class: "grid" }),
        svg("text", { x: PAD.left - 5, y: at + 3, "text-anchor": "end", class: "tick" }, `1e${e}`),
      );
    }
  }

  showSummary(norms) {
    const first = norms[0];
    const last = norms[norms.length - 1];
    if (first > 0 && last > 0) {
      setText(this.readout, `‖dW‖ first layer ${fmt(first)} · output ${fmt(last)} · hover a layer for its factors`);
    } else if (last > 0) {
      const reached = norms.findIndex((n) => n > 0);
      setText(this.readout, `Backward pass has reached ${layerName(reached, norms.length, true)}; keep stepping (→) to reach L1.`);
    } else if (this.state.trace?.diverged) {
      setText(this.readout, "No finite gradients: training diverged (press Reset).");
    } else {
      setText(this.readout, "Run a backward pass to see gradients per layer.");
    }
  }

  /** Ratio between layer l and the layer after it, with its two factors from the engine. */
  showFactors(l) {
    this.hovered = l;
    const layers = this.state?.trace?.layers ?? [];
    const flow = this.state?.trace?.gradient_flow ?? [];
    const factor = flow.find((f) => f.layer === l);
    const layer = layers[l];
    const name = (k) => layerName(k, layers.length, true);
    const text = (field) => traceText(this.state.trace, layerStat(layer, field), fmt);
    const parts = [`${name(l)}: ‖dW‖ ${text("grad_norm")}, mean |dz| ${text("mean_abs_dz")}`];
    if (factor) {
      parts.push(
        `ratio to ${name(l + 1)}: ${fmt(factor.ratio)} ≈ mean |f′(z)| ${fmt(factor.mean_abs_fprime)} × ‖W‖ of ${name(l + 1)} ${fmt(factor.next_weight_norm)}`,
      );
    }
    setText(this.readout, parts.join(" · "));
  }

  drawStrip(state) {
    const rows = historyGradNorms(state.history);
    const context = this.strip.getContext("2d");
    const width = Math.max(200, Math.floor(this.root.clientWidth - 16));
    const height = 46;
    if (this.strip.width !== width) this.strip.width = width;
    if (this.strip.height !== height) this.strip.height = height;
    context.clearRect(0, 0, width, height);
    if (!rows || !rows.length || !rows[0]?.length) {
      setText(this.stripLabel, "log ‖dW‖ per layer over steps (appears once training runs)");
      return;
    }
    let low = Infinity;
    let high = -Infinity;
    for (const row of rows) {
      for (const v of row) {
        if (v > 0 && Number.isFinite(v)) {
          const e = Math.log10(v);
          if (e < low) low = e;
          if (e > high) high = e;
        }
      }
    }
    if (!Number.isFinite(low)) return;
    if (high - low < 1e-9) high = low + 1;
    const steps = rows[0].length;
    const image = context.createImageData(width, height);
    const rowHeight = height / rows.length;
    for (let py = 0; py < height; py++) {
      // Top row = last layer, bottom = first: matches the bar chart's reading (outputs on top).
      const l = rows.length - 1 - Math.min(rows.length - 1, Math.floor(py / rowHeight));
      for (let px = 0; px < width; px++) {
        const s = Math.min(steps - 1, Math.floor((px / width) * steps));
        const v = rows[l][s];
        const o = (py * width + px) * 4;
        if (!(v > 0) || !Number.isFinite(v)) {
          image.data[o + 3] = 0;
          continue;
        }
        const k = Math.round(((Math.log10(v) - low) / (high - low)) * 255) * 3;
        image.data[o] = SEQUENTIAL_TABLE[k];
        image.data[o + 1] = SEQUENTIAL_TABLE[k + 1];
        image.data[o + 2] = SEQUENTIAL_TABLE[k + 2];
        image.data[o + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    const lastStep = state.history.step?.[state.history.step.length - 1] ?? steps;
    setText(
      this.stripLabel,
      `log ‖dW‖ · rows ${layerName(rows.length - 1, rows.length, true)} (top) … L1 · steps 0–${lastStep} · 1e${low.toFixed(1)}` +
        ` (pale) to 1e${high.toFixed(1)} (dark)`,
    );
  }
}
