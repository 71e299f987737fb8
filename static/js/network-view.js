// Network diagram: SVG for labels, layer bands, dead-unit crosses, the selection and gradient
// pulses; two canvases underneath, drawn afresh when what they show changes. The lower one
// holds the neurons' heatmaps (new with each boundary); the upper one the edges (coloured and
// sized by weight or gradient every frame) and over them each neuron's outline, coloured by
// its mean activation, and its |dz| corner dot: everything a play frame changes, on one canvas
// (each canvas drawn costs a copy of its pixels to the compositor). On a canvas these cost a
// few draw calls a frame instead of hundreds of SVG attributes restyled, laid out and
// repainted. The SVG keeps every neuron, edge and dot as an element that stays
// where it was built: the geometry clicks, the keyboard and the selection use, and the dots'
// numbers (data-dz) for anyone reading the page.
//
// Columns are: inputs, hidden layers, output. Weight layer l joins column l to column l+1.
// Forward stepping lights columns left to right; backward stepping sends pulses right to left
// whose size and opacity follow log10 |dz|, so vanishing gradients fade and exploding ones swell.

import { decodeGrid, paintScalarInto } from "./heatmap.js";
import { clear, setAttrs, setText, svg } from "./dom.js";
import { CLASS_COLOURS, diverging } from "./palette.js";
import { fmt, layerName } from "./format.js";
import { layerMatrix, neuronMeanAbsDz, neuronMeanActivation, traceText } from "./trace-fields.js";
import { displayName } from "./names.js";
import { datasetInfo } from "./catalog.js";
import { unchanged } from "./store.js";
import { sizeOf } from "./layout-cache.js";
import { BLANK_EDGE, EdgeCanvas, MISSING_EDGE, edgeLook } from "./edge-canvas.js";

const LABEL_SPACE = 36;
// Column captions when columns are narrow (deep networks).
const SHORT_NAMES = {
  sigmoid: "σ",
  relu: "ReLU",
  leaky_relu: "lReLU",
  linear: "lin",
  softmax: "soft",
  gelu: "GELU",
  elu: "ELU",
  softplus: "sp",
  sine: "sin",
};
const MARGIN = 10;
// Room round the neurons on the edge canvas for outline widths and the forward column's glow
// (beside the |dz| dots centred on the neurons' corners: up to 1 + 0.24 × the neuron's size).
const OUTLINE_ROOM = 4;
const MAX_PULSES_PER_LAYER = 160;
// log10 |dz| mapped onto pulse size: 1e-7 is barely visible, 1e1 and beyond swells.
const PULSE_LOG_MIN = -7;
const PULSE_LOG_SPAN = 8;

export function pulseScale(magnitude) {
  if (!(magnitude > 0) || !Number.isFinite(magnitude)) return 0;
  return Math.max(0, Math.min(1.8, (Math.log10(magnitude) - PULSE_LOG_MIN) / PULSE_LOG_SPAN));
}

/**
 * Where a hidden neuron's colour scale is centred: 0 for most activations (sign = colour), but
 * 0.5 for those whose output lies in [0, 1] (sigmoid), which would otherwise be all one hue.
 */
function activationCentre(catalog, name) {
  const f = catalog.activationByName[name]?.curve?.f;
  if (!f) return 0;
  const finite = f.filter(Number.isFinite);
  return Math.min(...finite) >= 0 && Math.max(...finite) <= 1 ? 0.5 : 0;
}


export class NetworkView {
  constructor(element, { onSelect }) {
    this.root = element;
    this.onSelect = onSelect;
    this.stage = element.querySelector(".network-stage");
    this.canvas = this.stage.querySelector("canvas");
    this.svg = this.stage.querySelector("svg");
    const edgeCanvas = document.createElement("canvas");
    edgeCanvas.className = "network-edges";
    edgeCanvas.setAttribute("aria-hidden", "true");
    // Above the heatmaps: the edges end at the neurons' borders, and the outlines and |dz|
    // dots drawn with them go over the heatmaps. A play frame redraws this canvas alone.
    this.canvas.after(edgeCanvas);
    this.edgeCanvas = new EdgeCanvas(edgeCanvas);
    this.banner = element.querySelector(".divergence");
    this.tooltip = element.querySelector(".tooltip");
    this.layout = null;
    this.signature = "";
    this.lastStageKey = "";
    this.atlas = null;
    this.state = null;
    this.announcer = element.querySelector(".network-focus");
    this.cursor = null; // the keyboard's place in the diagram: a neuron or an edge
    this.svg.addEventListener("pointermove", (event) => this.hover(event));
    this.svg.addEventListener("pointerleave", () => this.hideTooltip());
    this.svg.addEventListener("click", (event) => this.click(event));
    this.svg.addEventListener("keydown", (event) => this.key(event));
    // A click selects without taking the focus: → and Space keep stepping and playing for a
    // mouse user. The keyboard reaches the diagram with Tab (then the arrows walk it).
    this.svg.addEventListener("mousedown", (event) => event.preventDefault());
    // Focus from the keyboard shows where the arrow keys start; a click's focus does not.
    this.svg.addEventListener("focus", () => this.svg.matches(":focus-visible") && this.moveCursor(this.cursor ?? this.startCursor()));
    this.svg.addEventListener("blur", () => this.hideTooltip());
  }

  /**
   * Column sizes (inputs, hidden units…, outputs) of the network the trace comes from, so a
   * config change still on its way to the server never reshapes numbers it did not produce.
   * Before the first trace: the config's.
   */
  columnSizes(state) {
    const layers = state.trace?.layers;
    if (layers?.length) return [layers[0].fan_in, ...layers.map((layer) => layer.fan_out)];
    const dataset = datasetInfo(state);
    const outputs = dataset?.task === "multiclass" ? dataset.n_classes : 1;
    return [state.config.features.length, ...state.config.layers.map((l) => l.units), outputs];
  }

  /** Activation of column c (1 … last; the output's is the head), from the trace if any. */
  activationOf(state, c) {
    if (c === this.layout.sizes.length - 1) return state.trace?.head ?? null;
    return state.trace?.layers?.[c - 1]?.activation ?? state.config.layers[c - 1]?.activation;
  }

  computeLayout(sizes, width, height) {
    const columns = sizes.length;
    const top = LABEL_SPACE;
    const usable = height - top - MARGIN;
    const maxUnits = Math.max(...sizes);
    const gap = (width - 2 * MARGIN) / columns;
    const node = Math.max(5, Math.min(40, gap * 0.42, (usable / maxUnits) * 0.86));
    const xs = sizes.map((_, c) => MARGIN + gap * (c + 0.5));
    const positions = sizes.map((units, c) => {
      const spacing = Math.min(node * 1.3, usable / units);
      const start = top + (usable - spacing * units) / 2 + spacing / 2;
      return Array.from({ length: units }, (_, k) => ({ x: xs[c], y: start + k * spacing }));
    });
    return { sizes, width, height, node, xs, gap, positions };
  }

  build(layout) {
    clear(this.svg);
    const { sizes, node, positions, xs, gap, height, width } = layout;
    setAttrs(this.svg, { width, height, viewBox: `0 0 ${width} ${height}` });
    this.bands = sizes.slice(1).map((_, l) =>
      svg("rect", {
        class: "band",
        x: xs[l + 1] - gap / 2 + 2,
        y: 2,
        width: gap - 4,
        height: height - 4,
        rx: 6,
        "data-layer": l,
      }),
    );
    this.svg.append(svg("g", { class: "bands" }, ...this.bands));
    this.edgeGroups = [];
    this.edges = [];
    const segments = [];
    for (let l = 0; l < sizes.length - 1; l++) {
      const group = svg("g", { class: "edges", "data-layer": l });
      const rows = [];
      for (let i = 0; i < sizes[l]; i++) {
        const row = [];
        for (let j = 0; j < sizes[l + 1]; j++) {
          const a = positions[l][i];
          const b = positions[l + 1][j];
          const ends = [a.x + node / 2, a.y, b.x - node / 2, b.y];
          const line = svg("line", { x1: ends[0], y1: ends[1], x2: ends[2], y2: ends[3] });
          segments.push(...ends);
          row.push(line);
          group.append(line);
        }
        rows.push(row);
      }
      this.edges.push(rows);
      this.edgeGroups.push(group);
    }
    this.edgeSegments = segments;
    this.edgeLooks = new Int32Array(segments.length / 4); // one look per edge, every frame
    // Geometry only (drawn on the edge canvas): hidden, and never touched again per frame.
    this.svg.append(svg("g", { class: "all-edges", visibility: "hidden" }, ...this.edgeGroups));
    this.selectedEdge = svg("line", { class: "edge-selected", visibility: "hidden" });
    this.svg.append(this.selectedEdge);
    this.columns = [];
    this.neurons = [];
    this.dzMarks = [];
    this.deadMarks = [];
    const neuronLayer = svg("g", { class: "neurons" });
    for (let c = 0; c < sizes.length; c++) {
      const column = svg("g", { class: "column", "data-column": c });
      const cells = [];
      const marks = [];
      const dead = [];
      for (let k = 0; k < sizes[c]; k++) {
        const p = positions[c][k];
        const cell = svg("rect", { class: "neuron", x: p.x - node / 2, y: p.y - node / 2, width: node, height: node, rx: 3 });
        cells.push(cell);
        column.append(cell);
        if (c > 0) {
          const mark = svg("circle", { class: "dz-mark", cx: p.x - node / 2, cy: p.y - node / 2, r: 0, visibility: "hidden" });
          marks.push(mark);
          column.append(mark);
        }
        if (c > 0 && c < sizes.length - 1) {
          // A cross over a unit dead on the whole training set (a = 0 on every point).
          const [x0, y0, x1, y1] = [p.x - node / 2, p.y - node / 2, p.x + node / 2, p.y + node / 2];
          const cross = svg("path", { class: "dead-mark", d: `M${x0},${y0}L${x1},${y1}M${x0},${y1}L${x1},${y0}`, visibility: "hidden" });
          dead.push(cross);
          column.append(cross);
        }
      }
      this.neurons.push(cells);
      this.dzMarks.push(marks);
      this.deadMarks.push(dead);
      this.columns.push(column);
      neuronLayer.append(column);
    }
    this.svg.append(neuronLayer);
    // The dots' colour is the page's |dz| colour (read once per build, not per frame).
    this.dzColour = getComputedStyle(this.root).getPropertyValue("--dz").trim() || "#e08214";
    this.labels = sizes.map((_, c) => svg("text", { class: "column-label", x: xs[c], y: 13, "text-anchor": "middle" }));
    this.activationLabels = sizes.map((_, c) => svg("text", { class: "activation-label", x: xs[c], y: 28, "text-anchor": "middle" }));
    this.svg.append(svg("g", { class: "labels" }, ...this.labels, ...this.activationLabels));
    this.inputLabels = positions[0].map((p) =>
      svg("text", { class: "input-label", x: p.x - node / 2 - 4, y: p.y + 4, "text-anchor": "end" }),
    );
    this.svg.append(svg("g", {}, ...this.inputLabels));
    this.pulseLayer = svg("g", { class: "pulses" });
    // Where the keyboard is: a ring round a neuron, or an outline along an edge.
    this.focusRing = svg("rect", { class: "focus-ring", visibility: "hidden", rx: 5 });
    this.focusLine = svg("line", { class: "focus-line", visibility: "hidden" });
    this.svg.append(this.pulseLayer, this.focusLine, this.focusRing);
    if (this.cursor && !this.validCursor(this.cursor)) this.cursor = null;
    // Both canvases cover only the neurons' part of the diagram: every frame that draws on one
    // hands all its pixels to the compositor.
    const room = OUTLINE_ROOM + 1 + 0.24 * node; // outlines, the glow, the |dz| dots
    const geometry = { segments: this.edgeSegments, positions: layout.positions, node, dzColour: this.dzColour };
    this.edgeCanvas.resize(neuronBox(layout, room), geometry);
    const box = neuronBox(layout, 1);
    this.ratio = window.devicePixelRatio || 1;
    this.heatmapBox = box;
    this.canvas.width = Math.round(box.width * this.ratio);
    this.canvas.height = Math.round(box.height * this.ratio);
    Object.assign(this.canvas.style, { left: `${box.x}px`, top: `${box.y}px`, width: `${box.width}px`, height: `${box.height}px` });
  }

  /** Idempotent: draws `state` as it is; animations start only when the stage moves. */
  update(state, { force = false } = {}) {
    this.state = state;
    if (!state.config || !state.catalog) return;
    // The stage's size from the layout cache: read once, kept current by a ResizeObserver that
    // redraws the page (a read here, after other views wrote, would force a layout).
    const size = sizeOf(this.stage);
    const width = Math.max(200, Math.floor(size.width));
    const height = Math.max(220, Math.floor(size.height));
    const sizes = this.columnSizes(state);
    const signature = `${sizes.join("-")}|${width}x${height}`;
    if (signature !== this.signature) {
      this.layout = this.computeLayout(sizes, width, height);
      this.build(this.layout);
      this.signature = signature;
      force = true;
    }
    const { trace, boundary, sim, selection, view, config, data, playing } = state;
    const drawn = { trace, boundary, sim, selection, view, config, data, playing };
    if (!force && unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    const lit = this.litColumns(sim, sizes.length);
    setAttrs(this.svg, { "data-lit": String(lit), "data-columns": String(sizes.length), "data-stage": sim ? `${sim.stage}:${sim.layer ?? ""}` : "", "data-edges": state.view.edges });
    this.drawLabels(state);
    this.drawHeatmaps(state, lit);
    this.drawEdges(state, this.neuronLooks(state, lit));
    this.drawSelection(state);
    this.drawDivergence(state);
    if (this.cursor && document.activeElement === this.svg) this.moveCursor(this.cursor, { announce: false });
    const stageKey = sim ? `${state.sessionId}:${sim.step}:${sim.stage}:${sim.layer}` : "";
    if (stageKey !== this.lastStageKey) {
      const previous = this.lastStageKey;
      this.lastStageKey = stageKey;
      if (previous && sim.stage === "backward" && !state.playing && !force) this.animateBackward(state, sim.layer);
    }
  }

  /**
   * Columns 0..lit-1 are drawn at full strength. During the forward pass that is the inputs
   * plus the layers computed so far; at any other stage the whole network is current.
   */
  litColumns(sim, columns) {
    return sim?.stage === "forward" ? (sim.layer ?? 0) + 2 : columns;
  }

  drawLabels(state) {
    const { sizes } = this.layout;
    const narrow = this.layout.gap < 64;
    this.labels.forEach((label, c) => {
      let text = narrow ? "in" : "Input";
      if (c === sizes.length - 1) text = narrow ? "out" : "Output";
      else if (c > 0) text = narrow ? `L${c}` : `Layer ${c}`;
      setText(label, text);
      const activation = c === 0 ? null : this.activationOf(state, c);
      setText(this.activationLabels[c], c === 0 || !activation ? "" : narrow ? SHORT_NAMES[activation] ?? activation.slice(0, 4) : displayName(activation).replace(/ \(.*\)$/, ""));
    });
    const featureLabels = Object.fromEntries(state.catalog.features.map((f) => [f.name, f.label || f.name]));
    this.inputLabels.forEach((label, k) => setText(label, featureLabels[state.config.features[k]] ?? `x${k + 1}`));
  }

  /**
   * Paint every neuron's grid into one atlas image (one putImageData per boundary instead of
   * one canvas per neuron); frames that reuse the same boundary skip straight to drawing.
   */
  atlasFor(state) {
    const { sizes } = this.layout;
    const task = datasetInfo(state)?.task;
    const centres = sizes.map((_, c) => {
      const activation = c > 0 && c < sizes.length - 1 ? this.activationOf(state, c) : null;
      return activation ? activationCentre(state.catalog, activation) : 0;
    });
    const key = `${task}|${centres.join()}|${sizes.join()}`;
    if (this.atlas?.boundary === state.boundary && this.atlas.key === key) return this.atlas;
    const entries = [];
    let cellRows = 1;
    let cellCols = 1;
    for (let c = 0; c < sizes.length; c++) {
      for (let k = 0; k < sizes[c]; k++) {
        const entry = this.neuronEntry(state, c, k, task, centres[c]);
        entries.push(entry);
        if (entry) {
          cellRows = Math.max(cellRows, entry.decoded.shape[0]);
          cellCols = Math.max(cellCols, entry.decoded.shape[1]);
        }
      }
    }
    const perRow = Math.ceil(Math.sqrt(entries.length));
    const width = perRow * cellCols;
    const height = Math.ceil(entries.length / perRow) * cellRows;
    const canvas = this.atlas?.canvas ?? document.createElement("canvas");
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const context = canvas.getContext("2d");
    const image = context.createImageData(width, height);
    const pixels = new Uint32Array(image.data.buffer);
    const cells = entries.map((entry, n) => {
      if (!entry) return null;
      const x = (n % perRow) * cellCols;
      const y = Math.floor(n / perRow) * cellRows;
      paintScalarInto(pixels, width, x, y, entry.decoded, entry.options);
      return { x, y, width: entry.decoded.shape[1], height: entry.decoded.shape[0] };
    });
    context.putImageData(image, 0, 0);
    this.atlas = { boundary: state.boundary, key, canvas, cells };
    return this.atlas;
  }

  /** The decoded grid of one neuron and how to colour it, or null when there is none. */
  neuronEntry(state, column, k, task, centre) {
    const boundary = state.boundary;
    if (!boundary) return null;
    const { sizes } = this.layout;
    const isOutput = column === sizes.length - 1;
    let grid;
    if (column === 0) grid = boundary.inputs?.[k];
    else if (!isOutput) grid = boundary.hidden?.[column - 1]?.[k];
    else grid = boundary.output;
    const decoded = grid ? decodeGrid(grid) : null;
    if (!decoded?.shape) return null;
    if (!isOutput) return { decoded, options: { centre } };
    if (decoded.shape.length === 3) {
      // One output neuron of a multiclass head: its own class's probability plane.
      const [, rows, cols] = decoded.shape;
      const plane = decoded.bytes.subarray(k * rows * cols, (k + 1) * rows * cols);
      const single = { bytes: plane, min: decoded.min, max: decoded.max, shape: [rows, cols] };
      return { decoded: single, options: { tint: CLASS_COLOURS[k % CLASS_COLOURS.length] } };
    }
    if (task === "regression") return { decoded, options: {} };
    return { decoded, options: { centre: 0.5, halfWidth: 0.5 } };
  }

  /**
   * Each neuron's outline (colour from its mean activation, relative to the column's largest;
   * grey while not computed) and |dz| dot (size and opacity from log10 |dz|; none until the
   * backward pass reached the layer), column by column. Sets the SVG's per-column state and
   * the dots' data-dz and the dead-unit crosses, which change only when their numbers do.
   */
  neuronLooks(state, lit) {
    const { sizes, node } = this.layout;
    const sim = state.sim;
    const layers = state.trace?.layers ?? [];
    const looks = [];
    for (let c = 0; c < sizes.length; c++) {
      const column = this.columns[c];
      const isLit = c < lit;
      const current = sim?.stage === "forward" && c === (sim.layer ?? -1) + 1;
      setAttrs(column, { "data-state": isLit ? "lit" : "dim" });
      column.classList.toggle("current", current);
      const activation = c > 0 ? neuronMeanActivation(layers[c - 1]) : null;
      const scale = activation ? Math.max(1e-12, ...activation.map((v) => Math.abs(v ?? 0))) : 1;
      // Null until the backward pass has reached this layer: no marker, never a made-up size.
      const dz = c > 0 ? neuronMeanAbsDz(layers[c - 1]) : null;
      const cells = [];
      for (let k = 0; k < sizes[c]; k++) {
        const cell = this.neurons[c][k];
        const outline = isLit && activation ? diverging((activation[k] ?? 0) / scale) : "#9aa3ad";
        const look = { outline, width: isLit && activation ? 2.5 : 1.2, radius: 0, opacity: 0 };
        const cross = this.deadMarks[c]?.[k];
        if (cross) {
          const deadUnit = Boolean(layers[c - 1]?.dead_units_train?.[k]);
          setAttrs(cross, { visibility: deadUnit ? "visible" : "hidden", "data-dead": String(deadUnit) });
          setAttrs(cell, { "data-dead": String(deadUnit) });
        }
        if (c > 0) {
          const t = dz ? pulseScale(dz[k]) : 0;
          // Capped at the neuron's half-size: the pulses, not the markers, show explosions.
          look.radius = t > 0 ? Number((1 + (node / 5) * Math.min(1.2, t)).toFixed(1)) : 0;
          look.opacity = Number((0.2 + 0.8 * Math.min(1, t)).toFixed(2));
          setAttrs(this.dzMarks[c][k], { "data-dz": dz ? String(dz[k]) : "" });
        }
        cells.push(look);
      }
      looks.push({ dim: !isLit, current, cells });
    }
    return looks;
  }

  /**
   * The heatmap canvas: every neuron's heatmap, dimmed in columns not yet computed. Redrawn
   * only when the boundary or the lit columns changed (a play frame brings a boundary now
   * and then, not every frame).
   */
  drawHeatmaps(state, lit) {
    const atlas = this.atlasFor(state);
    const painted = { atlas, lit, layout: this.layout, canvas: this.canvas.width };
    if (unchanged(this.painted, painted)) return;
    this.painted = painted;
    const context = this.canvas.getContext("2d");
    const { ratio, heatmapBox: box } = this;
    context.setTransform(ratio, 0, 0, ratio, -box.x * ratio, -box.y * ratio); // diagram px
    context.clearRect(box.x, box.y, box.width, box.height);
    const { positions, node, sizes } = this.layout;
    let n = 0;
    for (let c = 0; c < sizes.length; c++) {
      context.globalAlpha = c < lit ? 1 : 0.22;
      for (let k = 0; k < sizes[c]; k++) {
        const cell = atlas.cells[n++];
        const p = positions[c][k];
        if (cell) {
          context.drawImage(atlas.canvas, cell.x, cell.y, cell.width, cell.height, p.x - node / 2, p.y - node / 2, node, node);
        } else {
          context.fillStyle = "#eceff3";
          context.fillRect(p.x - node / 2, p.y - node / 2, node, node);
        }
      }
    }
    context.globalAlpha = 1;
  }

  edgeValues(state) {
    const mode = state.view.edges;
    const layers = state.trace?.layers ?? [];
    return this.edges.map((_, l) => layerMatrix(layers[l], mode));
  }

  /** The edge canvas: every edge in its look, then the neurons' outlines and dots (`looks`). */
  drawEdges(state, neuronLooks) {
    const matrices = this.edgeValues(state);
    const mode = state.view.edges;
    let maxAbs = 0;
    for (const matrix of matrices) {
      if (!matrix) continue;
      for (const row of matrix) {
        for (let j = 0; j < row.length; j++) {
          const v = row[j];
          if (v !== null && Math.abs(v) > maxAbs) maxAbs = Math.abs(v);
        }
      }
    }
    // Dense layers get thinner strokes so the thickest edges do not hide the rest.
    const maxWidth = Math.min(3.6, Math.max(1.2, 40 / Math.max(...this.layout.sizes)));
    const looks = this.edgeLooks;
    let n = 0;
    for (let l = 0; l < this.edges.length; l++) {
      const matrix = matrices[l];
      const rows = this.edges[l];
      for (let i = 0; i < rows.length; i++) {
        const row = matrix?.[i];
        for (let j = 0; j < rows[i].length; j++) {
          const v = row?.[j];
          if (v === undefined || v === null || maxAbs === 0) {
            looks[n++] = matrix ? BLANK_EDGE : MISSING_EDGE;
            continue;
          }
          // Weights: linear in |w|. Gradients span decades, so a log scale over 4 decades —
          // a vanishing layer then shows as hairlines instead of disappearing outright.
          const t =
            mode === "dW"
              ? Math.max(0, 1 + Math.log10(Math.abs(v) / maxAbs + 1e-300) / 4)
              : Math.abs(v) / maxAbs;
          looks[n++] = edgeLook(v, t, maxWidth);
        }
      }
    }
    this.edgeCanvas.draw(looks, neuronLooks, JSON.stringify(neuronLooks));
  }

  drawSelection(state) {
    const selection = state.selection;
    this.bands.forEach((band, l) => {
      const selected = selection?.kind === "layer" && selection.layer === l;
      band.classList.toggle("selected", selected);
      band.classList.toggle("diverged", Boolean(state.sim?.diverged && state.sim.divergence?.layer === l));
    });
    if (selection?.kind === "edge" && this.edges[selection.layer]?.[selection.i]?.[selection.j]) {
      const line = this.edges[selection.layer][selection.i][selection.j];
      setAttrs(this.selectedEdge, {
        x1: line.getAttribute("x1"),
        y1: line.getAttribute("y1"),
        x2: line.getAttribute("x2"),
        y2: line.getAttribute("y2"),
        visibility: "visible",
      });
    } else {
      setAttrs(this.selectedEdge, { visibility: "hidden" });
    }
  }

  drawDivergence(state) {
    const sim = state.sim;
    const diverged = Boolean(sim?.diverged);
    if (this.banner.hidden !== !diverged) this.banner.hidden = !diverged; // an equal write restyles it
    this.root.classList.toggle("is-diverged", diverged);
    if (diverged) {
      const where = sim.divergence ?? {};
      let layer = "";
      if (where.layer !== null && where.layer !== undefined) layer = ` in ${where.layer === sim.n_layers - 1 ? "the " : ""}${layerName(where.layer, sim.n_layers)}`;
      setText(
        this.banner,
        `Diverged: values became NaN or infinite at step ${where.step ?? sim.step}, during ${where.stage ?? "training"}${layer}. ` +
          "Lower the learning rate, clip gradients, or press Reset.",
      );
    }
  }

  animateBackward(state, layer) {
    if (layer === null || layer === undefined || !this.edges[layer]) return;
    if (window.matchMedia("(prefers-reduced-motion: reduce)").matches) return;
    const dz = neuronMeanAbsDz(state.trace?.layers?.[layer]);
    if (!dz) return;
    const rows = this.edges[layer];
    const candidates = [];
    for (let i = 0; i < rows.length; i++) for (let j = 0; j < rows[i].length; j++) candidates.push([i, j]);
    const stride = Math.max(1, Math.ceil(candidates.length / MAX_PULSES_PER_LAYER));
    const { positions, node } = this.layout;
    for (let n = 0; n < candidates.length; n += stride) {
      const [i, j] = candidates[n];
      const t = pulseScale(dz[j]);
      if (t <= 0) continue;
      const from = positions[layer + 1][j];
      const to = positions[layer][i];
      const pulse = svg("circle", { class: "pulse", r: (1 + 5 * t).toFixed(2), cx: 0, cy: 0 });
      pulse.style.opacity = "0";
      this.pulseLayer.append(pulse);
      const opacity = 0.12 + 0.88 * Math.min(1, t);
      const animation = pulse.animate(
        [
          { transform: `translate(${from.x - node / 2}px, ${from.y}px)`, opacity },
          { transform: `translate(${to.x + node / 2}px, ${to.y}px)`, opacity: opacity * 0.7 },
        ],
        { duration: 650, easing: "ease-in-out", delay: (n % 7) * 25 },
      );
      animation.finished.then(() => pulse.remove(), () => pulse.remove());
    }
  }

  /** Nearest edge to a point within `tolerance` px, found geometrically (no hit lines). */
  edgeAt(x, y, tolerance) {
    const { positions, node, xs } = this.layout;
    for (let l = 0; l < xs.length - 1; l++) {
      const left = xs[l] + node / 2;
      const right = xs[l + 1] - node / 2;
      if (x < left || x > right) continue;
      let best = null;
      let bestDistance = tolerance;
      const f = (x - left) / (right - left);
      for (let i = 0; i < positions[l].length; i++) {
        for (let j = 0; j < positions[l + 1].length; j++) {
          const y0 = positions[l][i].y;
          const y1 = positions[l + 1][j].y;
          const slope = (y1 - y0) / (right - left);
          // Perpendicular distance from the point to the segment's line.
          const distance = Math.abs(y - (y0 + f * (y1 - y0))) / Math.sqrt(1 + slope * slope);
          if (distance < bestDistance) {
            bestDistance = distance;
            best = { layer: l, i, j };
          }
        }
      }
      return best;
    }
    return null;
  }

  neuronAt(x, y) {
    const { positions, node } = this.layout;
    for (let c = 0; c < positions.length; c++) {
      for (let k = 0; k < positions[c].length; k++) {
        const p = positions[c][k];
        if (Math.abs(x - p.x) <= node / 2 + 2 && Math.abs(y - p.y) <= node / 2 + 2) return { column: c, k };
      }
    }
    return null;
  }

  pointerPosition(event) {
    const box = this.svg.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  hover(event) {
    if (!this.layout || !this.state) return;
    const { x, y } = this.pointerPosition(event);
    const tolerance = event.pointerType === "touch" ? 14 : 6;
    const neuron = this.neuronAt(x, y);
    const edge = neuron ? null : this.edgeAt(x, y, tolerance);
    if (!edge && !neuron) {
      this.hideTooltip();
      this.svg.style.cursor = "";
      return;
    }
    this.svg.style.cursor = "pointer";
    const item = neuron ? { kind: "neuron", column: neuron.column, k: neuron.k } : { kind: "edge", ...edge };
    this.showTooltip(this.describe(item), x, y + 12);
  }

  showTooltip(text, x, y) {
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    const width = this.tooltip.offsetWidth;
    this.tooltip.style.left = `${Math.max(0, Math.min(x + 12, this.layout.width - width - 4))}px`;
    this.tooltip.style.top = `${y}px`;
  }

  /** One line about a neuron or an edge, with its live numbers. */
  describe(item) {
    const trace = this.state.trace;
    const count = this.edges.length;
    if (item.kind === "edge") {
      const layer = trace?.layers?.[item.layer];
      const w = layerMatrix(layer, "W")?.[item.i]?.[item.j];
      const dW = layerMatrix(layer, "dW")?.[item.i]?.[item.j];
      return `w[${item.i + 1}→${item.j + 1}] into ${layerName(item.layer, count)}: ${traceText(trace, w, fmt)} · dW ${traceText(trace, dW, fmt)} · Enter or click: its chain rule`;
    }
    const { column, k } = item;
    if (column === 0) {
      const label = this.inputLabels[k]?.textContent || `x${k + 1}`;
      return `input ${label} · ${k + 1} of ${this.layout.sizes[0]}`;
    }
    const layer = trace?.layers?.[column - 1];
    const name = column === this.layout.sizes.length - 1 ? "output" : `layer ${column}`;
    const mean = layer?.a_mean?.[k];
    let text = `${name}, unit ${k + 1}: mean a ${traceText(trace, mean, fmt)}`;
    if (layer?.dead_units_train?.[k]) text += " · dead on the whole training set (a = 0 everywhere)";
    return `${text} · Enter or click: the layer's histograms`;
  }

  click(event) {
    if (!this.layout) return;
    const { x, y } = this.pointerPosition(event);
    const neuron = this.neuronAt(x, y);
    if (neuron) {
      this.cursor = { kind: "neuron", column: neuron.column, k: neuron.k };
      if (neuron.column > 0) this.onSelect({ kind: "layer", layer: neuron.column - 1 });
      return;
    }
    const edge = this.edgeAt(x, y, event.pointerType === "touch" ? 14 : 8);
    if (edge) {
      this.cursor = { kind: "edge", ...edge, anchor: "from" }; // the keyboard carries on from here
      this.onSelect({ kind: "edge", ...edge });
      return;
    }
    const band = this.layout.xs.findIndex((cx) => Math.abs(x - cx) < this.layout.gap / 2);
    if (band > 0) this.onSelect({ kind: "layer", layer: band - 1 });
  }

  // ------------------------------------------------------------------------- keyboard

  startCursor() {
    const selection = this.state?.selection;
    if (selection?.kind === "edge") return { kind: "edge", layer: selection.layer, i: selection.i, j: selection.j, anchor: "from" };
    const column = selection?.kind === "layer" ? selection.layer + 1 : 1;
    return { kind: "neuron", column, k: 0 };
  }

  validCursor(item) {
    const sizes = this.layout?.sizes ?? [];
    if (item.kind === "neuron") return item.column < sizes.length && item.k < sizes[item.column];
    return item.layer < sizes.length - 1 && item.i < sizes[item.layer] && item.j < sizes[item.layer + 1];
  }

  /**
   * Arrow keys walk the diagram: ↑/↓ move along a column of neurons (or, on an edge, to the
   * next edge of the same neuron); → from a neuron goes onto its outgoing edges and on to the
   * neuron they reach, ← onto its incoming edges and back. Enter opens the inspector.
   */
  key(event) {
    // Shift+→ (a whole step) and other shortcuts pass through to the page.
    if (!this.layout || event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    const sizes = this.layout.sizes;
    const at = this.cursor ?? this.startCursor();
    const wrap = (v, n) => (v + n) % n;
    let next = null;
    if (event.key === "Enter") {
      event.preventDefault();
      if (at.kind === "edge") this.onSelect({ kind: "edge", layer: at.layer, i: at.i, j: at.j });
      else if (at.column > 0) this.onSelect({ kind: "layer", layer: at.column - 1 });
      else this.announce("Inputs have no weights of their own: move right (→) onto their edges.");
      return;
    }
    if (at.kind === "neuron") {
      const { column, k } = at;
      if (event.key === "ArrowUp") next = { ...at, k: wrap(k - 1, sizes[column]) };
      else if (event.key === "ArrowDown") next = { ...at, k: wrap(k + 1, sizes[column]) };
      else if (event.key === "ArrowRight" && column < sizes.length - 1) next = { kind: "edge", layer: column, i: k, j: 0, anchor: "from" };
      else if (event.key === "ArrowLeft" && column > 0) next = { kind: "edge", layer: column - 1, i: 0, j: k, anchor: "to" };
    } else {
      const { layer, i, j, anchor } = at;
      const far = anchor === "from" ? "j" : "i";
      const n = anchor === "from" ? sizes[layer + 1] : sizes[layer];
      if (event.key === "ArrowUp") next = { ...at, [far]: wrap(at[far] - 1, n) };
      else if (event.key === "ArrowDown") next = { ...at, [far]: wrap(at[far] + 1, n) };
      else if (event.key === "ArrowRight") next = { kind: "neuron", column: layer + 1, k: j };
      else if (event.key === "ArrowLeft") next = { kind: "neuron", column: layer, k: i };
    }
    if (!event.key.startsWith("Arrow")) return;
    event.preventDefault(); // arrows inside the diagram move the focus, never a training stage
    if (next) this.moveCursor(next);
  }

  moveCursor(item, { announce = true } = {}) {
    if (!this.layout || !this.validCursor(item)) return;
    this.cursor = item;
    const { positions, node } = this.layout;
    this.svg.dataset.focus = item.kind === "edge" ? `edge:${item.layer}:${item.i}:${item.j}` : `neuron:${item.column}:${item.k}`;
    if (item.kind === "neuron") {
      const p = positions[item.column][item.k];
      setAttrs(this.focusRing, { x: p.x - node / 2 - 4, y: p.y - node / 2 - 4, width: node + 8, height: node + 8, visibility: "visible" });
      setAttrs(this.focusLine, { visibility: "hidden" });
      this.showTooltip(this.describe(item), p.x, p.y + node / 2 + 6);
    } else {
      const line = this.edges[item.layer][item.i][item.j];
      const coords = Object.fromEntries(["x1", "y1", "x2", "y2"].map((a) => [a, line.getAttribute(a)]));
      setAttrs(this.focusLine, { ...coords, visibility: "visible" });
      setAttrs(this.focusRing, { visibility: "hidden" });
      const x = (Number(coords.x1) + Number(coords.x2)) / 2;
      const y = (Number(coords.y1) + Number(coords.y2)) / 2;
      this.showTooltip(this.describe(item), x, y + 10);
    }
    if (announce) this.announce(this.describe(item));
  }

  announce(text) {
    if (this.announcer) setText(this.announcer, text);
  }

  hideTooltip() {
    this.tooltip.hidden = true;
    if (this.focusRing && document.activeElement !== this.svg) {
      setAttrs(this.focusRing, { visibility: "hidden" });
      setAttrs(this.focusLine, { visibility: "hidden" });
    }
  }

  /** Screen position of an edge's midpoint, for tests and keyboard focus. */
  edgeMidpoint(layer, i, j) {
    const line = this.edges[layer]?.[i]?.[j];
    if (!line) return null;
    const box = this.svg.getBoundingClientRect();
    const x = (Number(line.getAttribute("x1")) + Number(line.getAttribute("x2"))) / 2;
    const y = (Number(line.getAttribute("y1")) + Number(line.getAttribute("y2"))) / 2;
    return { x: box.left + x, y: box.top + y };
  }
}

/** The part of the diagram round its neurons, `room` CSS px beyond each neuron's square (and
 * so every edge between them), in whole CSS px. */
function neuronBox({ positions, node, width, height }, room) {
  const reach = node / 2 + room;
  let left = Infinity;
  let right = -Infinity;
  let top = Infinity;
  let bottom = -Infinity;
  for (const column of positions) {
    for (const p of column) {
      left = Math.min(left, p.x - reach);
      right = Math.max(right, p.x + reach);
      top = Math.min(top, p.y - reach);
      bottom = Math.max(bottom, p.y + reach);
    }
  }
  const x = Math.max(0, Math.floor(left));
  const y = Math.max(0, Math.floor(top));
  return { x, y, width: Math.max(1, Math.min(width, Math.ceil(right)) - x), height: Math.max(1, Math.min(height, Math.ceil(bottom)) - y) };
}
