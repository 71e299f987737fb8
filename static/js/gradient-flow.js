// Gradient-flow panel: per-layer ‖dW‖ and mean |dz| on a log axis (x = layer, as in the
// diagram, so vanishing gradients shrink towards the inputs), the exact layer-to-layer ratio
// and its two factors on hover or focus, and a layers × steps heat strip of log10 ‖dW‖.
//
// The ratio ‖dz_l‖/‖dz_{l+1}‖ is exactly the gain through the next layer's weights times the
// gain through f′ (the engine's FlowFactor); mean |f′| and ‖W‖ appear only as a labelled
// rule of thumb. A gradient of exactly 0 is a result and reads as 0, with the reason.
//
// The log axis only ever widens (FlowAxis): it never rescales between steps or runs, so a
// vanishing staircase and a healthy one cannot look alike. Two panels compared side by side
// share one FlowAxis, so equal bars mean equal gradients.

import { clear, html, patchChildren, setAttrs, setText, svg } from "./dom.js";
import { cssPixels, sizeOf } from "./layout-cache.js";
import { fmt, layerName } from "./format.js";
import { term } from "./glossary.js";
import { SEQUENTIAL_TABLE } from "./palette.js";
import { layerStat, NOT_YET, traceText } from "./trace-fields.js";
import { backwardReached } from "./stages.js";
import { unchanged } from "./store.js";

// Decades the axis may span at most: past them a bar is drawn to the edge (the readout has
// the number); a diverged run's 1e300 would otherwise squash every other bar flat.
const FLOOR = -12;
const CEILING = 8;

/** A log axis in whole decades that starts at [low, high] and only ever grows to fit. */
export class FlowAxis {
  constructor(low = -6, high = 1) {
    this.low = low;
    this.high = high;
  }

  /** Widen to include every positive finite value of `values`. */
  extend(values) {
    for (const v of values) {
      if (!(v > 0) || !Number.isFinite(v)) continue;
      const e = Math.log10(v);
      this.low = Math.max(FLOOR, Math.min(this.low, Math.floor(e)));
      this.high = Math.min(CEILING, Math.max(this.high, Math.ceil(e)));
    }
    return this;
  }
}

/** Per-layer ‖dW‖ and mean |dz| of a trace: what the bars draw (and the axis must hold). */
export function flowValues(trace) {
  const layers = trace?.layers ?? [];
  return [...layers.map((layer) => layerStat(layer, "grad_norm")), ...layers.map((layer) => layerStat(layer, "mean_abs_dz"))];
}

/** Per-layer series of ‖dW‖ from a history response: grad_norm[layer][point] (layer-major). */
export function historyGradNorms(history) {
  const rows = history?.grad_norm;
  return Array.isArray(rows) && rows.length ? rows : null;
}

/** Rows of `history` (its series may run on past them: see history-rows.js). */
function pointsOf(history) {
  return history?.points ?? history?.step?.length ?? 0;
}

export class GradientFlowView {
  /** `axis`: a FlowAxis shared with other panels (compare mode), else one of its own. */
  constructor(element, { axis = new FlowAxis() } = {}) {
    this.root = element;
    this.axis = axis;
    this.chart = element.querySelector("svg.flow-bars");
    this.readout = element.querySelector(".flow-readout");
    this.strip = element.querySelector("canvas.flow-strip"); // optional: the heat strip
    this.stripLabel = element.querySelector(".flow-strip-label");
    this.stepLabel = element.querySelector(".numbers-step"); // optional: the step of its numbers
    this.groups = [];
    this.signature = "";
    this.hovered = null;
    this.strip?.addEventListener("pointermove", (event) => this.hoverStrip(event));
    // Leaving the strip brings its caption back (drawn again from the same history).
    this.strip?.addEventListener("pointerleave", () => {
      if (!this.state || !this.stripDrawn) return;
      const { width } = this.stripDrawn;
      this.stripDrawn = null;
      this.drawStrip(this.state, width);
    });
  }

  /** Read one cell of the heat strip: which layer, which step, what ‖dW‖. */
  hoverStrip(event) {
    const rows = historyGradNorms(this.state?.history);
    if (!rows?.[0]?.length) return;
    const box = this.strip.getBoundingClientRect();
    const fx = (event.clientX - box.left) / box.width;
    const fy = (event.clientY - box.top) / box.height;
    const l = rows.length - 1 - Math.min(rows.length - 1, Math.floor(fy * rows.length));
    const points = pointsOf(this.state.history);
    const k = Math.min(points - 1, Math.floor(fx * points));
    const step = this.state.history.step?.[k] ?? k;
    setText(this.stripLabel, `step ${step} · ${layerName(l, rows.length, true)}: ‖dW‖ ${fmt(rows[l][k])}`);
  }

  build(count, width) {
    const { HEIGHT, PAD } = this;
    clear(this.chart);
    setAttrs(this.chart, { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}` });
    // A backdrop as large as the chart: the browser lays out its page into layers again
    // whenever a chart's painted extent changes, which bars of a new height would do each frame.
    this.chart.append(svg("rect", { class: "backdrop", width, height: HEIGHT }));
    this.axisGroup = svg("g", { class: "axis" });
    this.chart.append(this.axisGroup);
    const band = (width - PAD.left - PAD.right) / count;
    this.band = band;
    this.groups = Array.from({ length: count }, (_, l) => {
      const x = PAD.left + l * band;
      const hit = svg("rect", { class: "hit", x, y: PAD.top, width: band, height: HEIGHT - PAD.top - PAD.bottom });
      const dW = svg("rect", { class: "bar-dw", x: x + band * 0.14, width: band * 0.36 });
      const dz = svg("rect", { class: "bar-dz", x: x + band * 0.52, width: band * 0.3 });
      const label = svg("text", { class: "tick", x: x + band / 2, y: HEIGHT - PAD.bottom / 4, "text-anchor": "middle" });
      // Too many layers for every name: label every k-th and the output layer.
      const every = Math.ceil((this.tickSize * 2.6) / band);
      if ((l % every === 0 && count - 1 - l >= every) || l === count - 1) setText(label, layerName(l, count, true));
      const group = svg("g", { class: "flow-bar", tabindex: 0, role: "img", "data-layer": l }, hit, dW, dz, label);
      group.addEventListener("pointerenter", () => this.showFactors(l));
      group.addEventListener("focus", () => this.showFactors(l));
      group.addEventListener("click", () => this.showFactors(l));
      // Leaving a bar (pointer or focus) brings the summary back: a readout never sticks.
      group.addEventListener("pointerleave", () => this.leave(l, group));
      group.addEventListener("blur", () => this.leave(l, group));
      this.chart.append(group);
      return { group, dW, dz };
    });
  }

  update(state) {
    const layers = state.trace?.layers ?? [];
    const count = layers.length || state.config.layers.length + 1;
    const width = Math.max(160, Math.floor(sizeOf(this.root).width - 16));
    const height = cssPixels(this.root, "--flow-height", 124);
    const tickSize = cssPixels(this.root, "--tick-size", 12);
    const norms = layers.map((layer) => layerStat(layer, "grad_norm"));
    const dzs = layers.map((layer) => layerStat(layer, "mean_abs_dz"));
    this.axis.extend([...norms, ...dzs]);
    const { low, high } = this.axis;
    const drawn = { trace: state.trace, sim: state.sim, history: state.history, width, height, count, low, high, tickSize };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    // While playing the page may show this panel a few frames behind the status line: it says
    // which step its numbers are of.
    const step = state.trace?.step ?? state.sim?.step;
    if (this.stepLabel) setText(this.stepLabel, step === undefined ? "" : `step ${step}`);
    this.HEIGHT = height;
    this.tickSize = tickSize;
    // Room for "1e-10" left of the axis and a layer name below it, at the tick's font size.
    this.PAD = { left: Math.round(tickSize * 4), right: 8, top: 8, bottom: Math.round(tickSize * 1.7) };
    const { HEIGHT, PAD } = this;
    const signature = `${count}|${width}|${height}|${tickSize}`;
    if (signature !== this.signature) {
      this.build(count, width);
      this.signature = signature;
      this.axisDrawn = "";
    }
    this.state = state;
    const bottom = HEIGHT - PAD.bottom;
    const y = (v) => bottom - ((Math.log10(v) - low) / (high - low)) * (bottom - PAD.top);
    if (this.axisDrawn !== `${low},${high}`) {
      this.axisDrawn = `${low},${high}`;
      this.chart.dataset.axis = this.axisDrawn;
      this.drawAxis(low, high, y, width);
    }
    this.groups.forEach(({ group, dW, dz }, l) => {
      const norm = norms[l];
      const meanDz = dzs[l];
      const text = (value) => traceText(state.trace, value, fmt);
      setAttrs(group, {
        "data-grad-norm": norm === null || norm === undefined ? "" : String(norm),
        "data-mean-abs-dz": meanDz === null || meanDz === undefined ? "" : String(meanDz),
        "aria-label": `${layerName(l, count)}: ‖dW‖ ${text(norm)}, mean |dz| ${text(meanDz)}`,
      });
      for (const [bar, value] of [
        [dW, norm],
        [dz, meanDz],
      ]) {
        const top = value > 0 && Number.isFinite(value) ? Math.max(PAD.top, y(value)) : bottom;
        setAttrs(bar, { y: top.toFixed(1), height: Math.max(0, bottom - top).toFixed(1) });
      }
    });
    this.drawStrip(state, width);
    if (this.hovered !== null && this.hovered < count) this.showFactors(this.hovered);
    else this.showSummary();
  }

  /** The pointer or the focus left bar `l`: back to the summary unless the other still holds. */
  leave(l, group) {
    if (this.hovered !== l) return;
    if (group.matches(":hover") || document.activeElement === group) return;
    this.hovered = null;
    this.showSummary();
  }

  /** The readout's node `key`, made once: the summary is written every frame, and a node made
   * afresh would have to be compared with the one shown to find it unchanged. */
  kept(key, make) {
    this.nodes ??= {};
    this.nodes[key] ??= make();
    return this.nodes[key];
  }

  /** Make the readout's content these texts and term nodes (changing only what changed). */
  say(kind, ...parts) {
    if (this.readout.dataset.kind !== kind) this.readout.dataset.kind = kind;
    patchChildren(this.readout, parts.filter((p) => p !== null && p !== undefined && p !== ""));
  }

  drawAxis(low, high, y, width) {
    const { PAD } = this;
    clear(this.axisGroup);
    // Labelled decades at least two text heights apart (more decades: fewer labels).
    const room = (this.HEIGHT - PAD.top - PAD.bottom) / (PAD.bottom * 1.2);
    const step = Math.max(1, Math.ceil((high - low) / Math.max(1, Math.floor(room))));
    for (let e = high; e >= low; e -= step) {
      const at = y(10 ** e);
      this.axisGroup.append(
        svg("line", { x1: PAD.left - 3, x2: width - PAD.right, y1: at, y2: at, class: "grid" }),
        svg("text", { x: PAD.left - 5, y: at + PAD.bottom / 5, "text-anchor": "end", class: "tick" }, `1e${e}`),
      );
    }
  }

  showSummary() {
    const { trace, sim } = this.state;
    const layers = trace?.layers ?? [];
    const count = layers.length;
    const norms = layers.map((layer) => layerStat(layer, "grad_norm"));
    const name = (k) => layerName(k, count, true);
    // Which layers this step's backward pass has reached comes from the stage, so that a null
    // after divergence (a value that is not finite) is never read as "not computed yet".
    const reached = layers.map((_, l) => Boolean(sim) && backwardReached(sim, l));
    if (!reached.some(Boolean)) {
      this.say("pending", "Gradients per layer appear as the backward pass reaches each layer (→ to step there).");
      return;
    }
    const parts = [];
    const lowest = reached.indexOf(true);
    if (lowest > 0) parts.push(`Backward pass has reached ${name(lowest)}; keep stepping (→) to reach L1.`);
    const infinite = norms.map((n, l) => (reached[l] && n === null ? l : null)).filter((l) => l !== null);
    if (infinite.length) {
      parts.push(`${parts.length ? " " : ""}‖dW‖ not finite in ${infinite.map(name).join(", ")}: training diverged (press Reset).`);
    } else if (lowest === 0) {
      parts.push(this.kept("grad_norm", () => term("grad_norm")), ` first layer ${fmt(norms[0])} · output ${fmt(norms[count - 1])}`);
    }
    const zeros = norms.map((n, l) => (n === 0 ? l : null)).filter((l) => l !== null);
    if (zeros.length) {
      parts.push(" · ", ...this.zeroReasons(zeros));
      this.say("zero", ...parts);
      return;
    }
    if (lowest === 0 && !infinite.length) parts.push(this.kept("hint", () => html("span", { class: "hover-hint" }, " · hover or focus a layer for its factors")));
    this.say(infinite.length ? "diverged" : lowest > 0 ? "partial" : "summary", ...parts);
  }

  /** Why ‖dW‖ is exactly 0 in these layers: dW_l = a_{l−1}ᵀ·dz_l / B, so either no gradient
   * reaches (dz = 0: dead units at or above) or the layer's inputs are all 0 (dead below). */
  zeroReasons(zeros) {
    const layers = this.state.trace.layers;
    const count = layers.length;
    const name = (k) => layerName(k, count, true);
    const dead = (k) => k >= 0 && k < count - 1 && layers[k].dead_fraction === 1;
    const noGradient = zeros.filter((l) => layerStat(layers[l], "mean_abs_dz") === 0);
    const deadInputs = zeros.filter((l) => !noGradient.includes(l) && dead(l - 1));
    const parts = [`‖dW‖ = 0 in ${zeros.map(name).join(", ")}.`];
    if (noGradient.length) {
      const top = noGradient[noGradient.length - 1];
      let cause = " (dz = 0)";
      for (let k = top; k < count - 1; k++) {
        if (dead(k)) {
          cause = `: every unit of ${name(k)} is dead (a = 0 for the whole batch, so f′ = 0 there)`;
          break;
        }
      }
      parts.push(` No gradient reaches ${noGradient.map(name).join(", ")}${cause}.`);
    }
    for (const l of deadInputs) parts.push(` ${name(l)}: its inputs are all 0 (every unit of ${name(l - 1)} is dead).`);
    const rest = zeros.filter((l) => !noGradient.includes(l) && !deadInputs.includes(l));
    if (rest.length) parts.push(` ${rest.map(name).join(", ")}: the products a·dz cancel or vanish on this batch.`);
    return parts;
  }

  /** Ratio between layer l and the layer after it, exactly as two gains, from the engine. */
  showFactors(l) {
    this.hovered = l;
    const trace = this.state?.trace;
    const layers = trace?.layers ?? [];
    const count = layers.length;
    const factor = (trace?.gradient_flow ?? []).find((f) => f.layer === l);
    const layer = layers[l];
    const name = (k) => layerName(k, count, true);
    const text = (field) => traceText(trace, layerStat(layer, field), fmt);
    const head = [`${name(l)}: `, term("grad_norm"), ` ${text("grad_norm")}, `, term("mean_abs_dz"), ` ${text("mean_abs_dz")}`];
    if (!factor) {
      this.say("factors", ...head, " · the gradient starts here, from the loss.");
      return;
    }
    const lines = [html("span", { class: "line" }, ...head)];
    if (factor.status === "ok") {
      lines.push(
        html(
          "span",
          { class: "line", "data-ratio": String(factor.ratio) },
          term("flow_ratio", `ratio ${name(l)}/${name(l + 1)}`),
          ` ${fmt(factor.ratio)} = `,
          term("weight_gain", `gain through Wᵀ of ${name(l + 1)}`),
          ` ${fmt(factor.weight_gain)} × `,
          term("activation_gain", "gain through f′"),
          ` ${fmt(factor.activation_gain)}`,
        ),
        html(
          "span",
          { class: "line why" },
          "why (rule of thumb, not a factor): ",
          term("mean_abs_fprime"),
          ` of ${name(l)} ${fmt(factor.mean_abs_fprime)}, ‖W‖ of ${name(l + 1)} ${fmt(factor.next_weight_norm)}`,
        ),
      );
    } else if (factor.status === "no_gradient") {
      lines.push(html("span", { class: "line" }, `No gradient reaches ${name(l)} from ${name(l + 1)}: ‖dz‖ = ${fmt(factor.dz_norm ?? 0)}, so there is no ratio. `, ...this.zeroCause(l)));
    } else {
      lines.push(html("span", { class: "line" }, `ratio ${name(l)}/${name(l + 1)}: ${NOT_YET} (the backward pass has not reached ${name(l)}).`));
    }
    this.say("factors", ...lines);
  }

  /** Which dead layer at or above l stops the gradient, if one does. */
  zeroCause(l) {
    const layers = this.state.trace.layers;
    const count = layers.length;
    for (let k = l; k < count - 1; k++) {
      if (layers[k].dead_fraction === 1) return [`Every unit of ${layerName(k, count, true)} is `, term("dead_fraction", "dead"), " on this batch."];
    }
    return [];
  }

  /** The layers × steps heat strip of log10 ‖dW‖ (redrawn when the history is new). */
  drawStrip(state, width) {
    if (!this.strip) return;
    const rows = historyGradNorms(state.history);
    const height = 46;
    // The same series grow from one history to the next: the history is what is new.
    const history = state.history;
    if (this.stripDrawn?.history === history && this.stripDrawn.width === width) return;
    this.stripDrawn = { history, width };
    const steps = pointsOf(history);
    const context = this.strip.getContext("2d");
    if (this.strip.width !== width) this.strip.width = width;
    if (this.strip.height !== height) this.strip.height = height;
    if (!rows || !rows.length || !steps) {
      context.clearRect(0, 0, width, height);
      setText(this.stripLabel, "log ‖dW‖ per layer over steps (appears once training runs)");
      return;
    }
    // The colour scale spans the whole run: its smallest and largest positive finite norm.
    let smallest = Infinity;
    let largest = 0;
    for (const row of rows) {
      for (let k = 0; k < steps; k++) {
        const v = row[k];
        if (v > 0 && v < Infinity) {
          if (v < smallest) smallest = v;
          if (v > largest) largest = v;
        }
      }
    }
    if (!(largest > 0)) {
      context.clearRect(0, 0, width, height);
      return;
    }
    const low = Math.log10(smallest);
    let high = Math.log10(largest);
    if (high - low < 1e-9) high = low + 1;
    if (this.stripImage?.width !== width || this.stripImage.height !== height) this.stripImage = context.createImageData(width, height);
    const image = this.stripImage; // every pixel is written below: reused, not allocated per frame
    const pixels = new Uint32Array(image.data.buffer);
    const colours = new Uint32Array(width);
    const rowHeight = height / rows.length;
    let layerDrawn = -1;
    for (let py = 0; py < height; py++) {
      // Top row = last layer, bottom = first: matches the bar chart's reading (outputs on top).
      const l = rows.length - 1 - Math.min(rows.length - 1, Math.floor(py / rowHeight));
      if (l !== layerDrawn) {
        // One colour per cell (layer × pixel column), then copied down the layer's rows.
        layerDrawn = l;
        for (let px = 0; px < width; px++) {
          const v = rows[l][Math.min(steps - 1, Math.floor((px / width) * steps))];
          if (!(v > 0) || !Number.isFinite(v)) {
            colours[px] = 0; // transparent
            continue;
          }
          const k = Math.round(((Math.log10(v) - low) / (high - low)) * 255) * 3;
          colours[px] = ((255 << 24) | (SEQUENTIAL_TABLE[k + 2] << 16) | (SEQUENTIAL_TABLE[k + 1] << 8) | SEQUENTIAL_TABLE[k]) >>> 0;
        }
      }
      pixels.set(colours, py * width);
    }
    context.putImageData(image, 0, 0);
    const lastStep = history.step?.[steps - 1] ?? steps;
    setText(
      this.stripLabel,
      `log ‖dW‖ · rows ${layerName(rows.length - 1, rows.length, true)} (top) … L1 · steps 0–${lastStep} · 1e${low.toFixed(1)}` +
        ` (pale) to 1e${high.toFixed(1)} (dark)`,
    );
  }
}
