// Output plot: the decision boundary (classification) or predicted surface (regression) as a
// heatmap over the input plane, with training points (filled) and test points (hollow).
// Inputs with one dimension (e.g. sine) are drawn as the predicted curve over x instead.

import { byteValue, decodeGrid, paintClassGrid, paintScalarGrid } from "./heatmap.js";
import { classColour, diverging } from "./palette.js";
import { datasetInfo } from "./catalog.js";
import { unchanged } from "./store.js";
import { sizeOf } from "./layout-cache.js";

/** The output panel's plot: as wide as the panel, capped by its height too, so the loss chart
 * below stays in view on a tablet. */
function panelSize(root) {
  const { width, height } = sizeOf(root);
  return Math.max(160, Math.min(320, Math.floor(width - 16), height - 240));
}

export class BoundaryView {
  /** `onToggle` (the test-data and discretise boxes, when the element has them); `size(root)`
   * the plot's side in CSS pixels. */
  constructor(element, { onToggle, size = panelSize } = {}) {
    this.root = element;
    this.size = size;
    this.canvas = element.querySelector("canvas.boundary");
    this.testToggle = element.querySelector("input[name=show-test]");
    this.discreteToggle = element.querySelector("input[name=discretise]");
    this.testToggle?.addEventListener("change", () => onToggle({ test: this.testToggle.checked }));
    this.discreteToggle?.addEventListener("change", () => onToggle({ discrete: this.discreteToggle.checked }));
    this.offscreen = document.createElement("canvas");
    this.drawn = null;
  }

  update(state) {
    if (this.testToggle && this.testToggle.checked !== state.view.test) this.testToggle.checked = state.view.test;
    if (this.discreteToggle && this.discreteToggle.checked !== state.view.discrete) this.discreteToggle.checked = state.view.discrete;
    const size = Math.floor(this.size(this.root));
    const drawn = { boundary: state.boundary, data: state.data, test: state.view.test, discrete: state.view.discrete, size };
    if (unchanged(this.drawn, drawn)) return;
    this.drawn = drawn;
    const ratio = window.devicePixelRatio || 1;
    // Setting a canvas's size clears and reallocates it: only when it changed.
    if (this.canvas.width !== size * ratio || this.canvas.height !== size * ratio) {
      this.canvas.width = size * ratio;
      this.canvas.height = size * ratio;
      this.canvas.style.width = `${size}px`;
      this.canvas.style.height = `${size}px`;
    }
    const context = this.canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = "#fff";
    context.fillRect(0, 0, size, size);
    const boundary = state.boundary;
    if (!boundary?.output) return;
    const output = decodeGrid(boundary.output);
    const task = datasetInfo(state)?.task ?? "binary";
    if (output.shape.length === 2 && output.shape[0] === 1) this.drawCurve(context, size, state, output);
    else this.drawPlane(context, size, state, output, task);
    if (this.canvas.dataset.task !== task) this.canvas.dataset.task = task;
  }

  drawPlane(context, size, state, output, task) {
    const [rows, cols] = output.shape.length === 3 ? output.shape.slice(1) : output.shape;
    if (this.offscreen.width !== cols) this.offscreen.width = cols;
    if (this.offscreen.height !== rows) this.offscreen.height = rows;
    const offContext = this.offscreen.getContext("2d");
    const image = offContext.createImageData(cols, rows);
    const discrete = state.view.discrete;
    if (output.shape.length === 3) paintClassGrid(image, output, { discrete });
    else if (task === "regression") paintScalarGrid(image, output, { discrete, levels: 3 });
    else paintScalarGrid(image, output, { centre: 0.5, halfWidth: 0.5, discrete });
    offContext.putImageData(image, 0, 0);
    context.imageSmoothingEnabled = !discrete;
    context.drawImage(this.offscreen, 0, 0, size, size);
    // Lighten the surface so points in their own class's colour still stand out on it.
    context.fillStyle = "rgba(255, 255, 255, 0.38)";
    context.fillRect(0, 0, size, size);
    context.drawImage(this.pointsLayer(state, size, task), 0, 0, size, size);
  }

  /** The data points drawn once (on a canvas of their own) for this data, domain and size:
   * a new boundary while training only repaints the surface under them. */
  pointsLayer(state, size, task) {
    const ratio = window.devicePixelRatio || 1;
    const key = { data: state.data, test: state.view.test, size, ratio, task, domain: state.boundary.domain.join() };
    if (unchanged(this.pointsKey, key)) return this.points;
    this.pointsKey = key;
    this.points ??= document.createElement("canvas");
    this.points.width = size * ratio;
    this.points.height = size * ratio;
    const context = this.points.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    const [xmin, xmax, ymin, ymax] = state.boundary.domain;
    const px = (v) => ((v - xmin) / (xmax - xmin)) * size;
    const py = (v) => size - ((v - ymin) / (ymax - ymin)) * size;
    const yAbs = task === "regression" ? maxAbs(state.data) : 1;
    const colour = (y) => {
      if (task === "regression") return diverging(y / yAbs);
      if (task === "multiclass") return classColour(y);
      return diverging(y > 0.5 ? 0.95 : -0.95);
    };
    const draw = (points, hollow) => {
      if (!points?.x) return;
      for (let k = 0; k < points.x.length; k++) {
        const [x1, x2] = points.x[k];
        context.beginPath();
        context.arc(px(x1), py(x2), 3, 0, 2 * Math.PI);
        // Training points: filled with a dark rim; test points: white with a coloured ring.
        context.fillStyle = hollow ? "#fff" : colour(points.y[k]);
        context.fill();
        context.lineWidth = hollow ? 1.8 : 0.9;
        context.strokeStyle = hollow ? colour(points.y[k]) : "rgba(0, 0, 0, 0.6)";
        context.stroke();
      }
    };
    draw(state.data?.train, false);
    if (state.view.test) draw(state.data?.test, true);
    return this.points;
  }

  drawCurve(context, size, state, output) {
    const [xmin, xmax] = state.boundary.domain;
    const cols = output.shape[1];
    const predictions = Array.from(output.bytes, (u) => byteValue(u, output.min, output.max));
    const targets = [...(state.data?.train?.y ?? []), ...(state.data?.test?.y ?? [])];
    const all = [...predictions, ...targets].filter(Number.isFinite);
    const low = Math.min(...all);
    const high = Math.max(...all);
    const pad = 10;
    const px = (v) => pad + ((v - xmin) / (xmax - xmin)) * (size - 2 * pad);
    const py = (v) => size - pad - ((v - low) / (high - low || 1)) * (size - 2 * pad);
    context.strokeStyle = "#ddd";
    context.beginPath();
    context.moveTo(pad, py(0));
    context.lineTo(size - pad, py(0));
    context.stroke();
    const draw = (points, hollow) => {
      if (!points?.x) return;
      for (let k = 0; k < points.x.length; k++) {
        context.beginPath();
        context.arc(px(points.x[k][0]), py(points.y[k]), 2.5, 0, 2 * Math.PI);
        context.strokeStyle = context.fillStyle = hollow ? diverging(-0.85) : diverging(0.85);
        if (hollow) context.stroke();
        else context.fill();
      }
    };
    draw(state.data?.train, false);
    if (state.view.test) draw(state.data?.test, true);
    context.strokeStyle = "#222";
    context.lineWidth = 2;
    context.beginPath();
    predictions.forEach((v, k) => {
      const x = xmin + ((xmax - xmin) * k) / (cols - 1);
      if (k === 0) context.moveTo(px(x), py(v));
      else context.lineTo(px(x), py(v));
    });
    context.stroke();
  }
}

function maxAbs(data) {
  const ys = [...(data?.train?.y ?? []), ...(data?.test?.y ?? [])];
  return Math.max(1e-12, ...ys.map((v) => Math.abs(v)));
}
