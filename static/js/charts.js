// Small chart pieces shared by the views: histograms (on a canvas) and SVG line paths. Each
// chart is built once and then updated in place, so redrawing it for a new step creates no
// nodes.

import { html, setAttrs, svg } from "./dom.js";
import { fmt } from "./format.js";
import { cssPixels, cssText } from "./layout-cache.js";

/**
 * Histograms (`{counts, edges}`) side by side, two to a row, on one canvas of a fixed size:
 * while playing the inspector redraws them every few frames, and one canvas costs the page a
 * single raster and no layout (SVG bars and tick labels were laid out and painted anew each
 * time). `specs`: [{title, colour}] in drawing order. A histogram not there yet (null) leaves
 * its cell to a note saying why (`missing`). The canvas's text alternative names each
 * histogram's count and range; `data-drawn` lists the ones drawn. Text sizes and colours come
 * from the stylesheet (presenter mode makes them larger).
 */
export class HistogramGrid {
  constructor({ specs, cellWidth, cellHeight, missing }) {
    this.specs = specs;
    this.cell = { width: cellWidth, height: cellHeight, gapX: 8, gapY: 4 };
    this.pad = { left: 4, right: 4, top: 16, bottom: 15 };
    const rows = Math.ceil(specs.length / 2);
    this.width = 2 * cellWidth + this.cell.gapX;
    this.height = rows * cellHeight + (rows - 1) * this.cell.gapY;
    this.canvas = html("canvas", { class: "histogram-canvas", role: "img" });
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.width * ratio);
    this.canvas.height = Math.round(this.height * ratio);
    Object.assign(this.canvas.style, { width: `${this.width}px`, height: `${this.height}px` });
    this.notes = specs.map(({ title }, k) => {
      const { x, y } = this.origin(k);
      const note = html("p", { class: "histogram empty", text: `${title}: ${missing}` });
      Object.assign(note.style, { left: `${x}px`, top: `${y}px`, width: `${cellWidth}px` });
      return note;
    });
    this.node = html("div", { class: "histograms" }, this.canvas); // notes go in while needed
    Object.assign(this.node.style, { width: `${this.width}px`, height: `${this.height}px` });
  }

  /** Top-left corner of cell `k`, in CSS px. */
  origin(k) {
    const { width, height, gapX, gapY } = this.cell;
    return { x: (k % 2) * (width + gapX), y: Math.floor(k / 2) * (height + gapY) };
  }

  /** Draw `histograms` (one per spec, each `{counts, edges}` or null). */
  update(histograms) {
    const context = this.canvas.getContext("2d");
    const ratio = this.canvas.width / this.width;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, this.width, this.height);
    const canvas = this.canvas;
    const font = cssText(canvas, "font-family", "sans-serif");
    const tickSize = cssPixels(canvas, "--tick-size", 12);
    const titleSize = cssPixels(canvas, "--title-size", 12);
    const ink = cssText(canvas, "--ink", "#1b1f24");
    const muted = cssText(canvas, "--muted", "#5d6773");
    const zero = cssText(canvas, "--zero-line", "#b5bec8");
    const labels = [];
    const drawn = [];
    histograms.forEach((histogram, k) => {
      const { title, colour } = this.specs[k];
      const note = this.notes[k];
      if (histogram && note.isConnected) note.remove();
      if (!histogram && !note.isConnected) this.node.append(note);
      if (!histogram) {
        labels.push(note.textContent);
        return;
      }
      const { x, y } = this.origin(k);
      context.save();
      context.translate(x, y);
      labels.push(this.drawOne(context, histogram, { title, colour, font, tickSize, titleSize, ink, muted, zero }));
      context.restore();
      drawn.push(k);
    });
    setAttrs(this.canvas, { "aria-label": labels.join("; "), "data-drawn": drawn.join(",") });
  }

  /** One histogram in a cell at the origin: title, bars, zero line, first and last edge. */
  drawOne(context, { counts, edges }, { title, colour, font, tickSize, titleSize, ink, muted, zero }) {
    const { pad } = this;
    const { width, height } = this.cell;
    let max = 1;
    let total = 0;
    for (const count of counts) {
      if (count > max) max = count;
      total += count;
    }
    const first = edges[0];
    const last = edges[edges.length - 1];
    const span = last - first || 1;
    const x = (v) => pad.left + ((v - first) / span) * (width - pad.left - pad.right);
    const plotHeight = height - pad.top - pad.bottom;
    context.fillStyle = colour;
    context.beginPath();
    for (let k = 0; k < counts.length; k++) {
      const barHeight = (counts[k] / max) * plotHeight;
      if (barHeight <= 0) continue;
      context.rect(x(edges[k]), pad.top + plotHeight - barHeight, Math.max(0.5, x(edges[k + 1]) - x(edges[k]) - 0.5), barHeight);
    }
    context.fill();
    if (first < 0 && last > 0) {
      context.strokeStyle = zero;
      context.lineWidth = 0.8;
      context.beginPath();
      context.moveTo(x(0), pad.top);
      context.lineTo(x(0), height - pad.bottom);
      context.stroke();
    }
    context.fillStyle = ink;
    context.font = `${titleSize}px ${font}`;
    context.textAlign = "left";
    context.fillText(title, pad.left, 11);
    context.fillStyle = muted;
    context.font = `${tickSize}px ${font}`;
    context.fillText(fmt(first), pad.left, height - 2);
    context.textAlign = "right";
    context.fillText(fmt(last), width - pad.right, height - 2);
    return `${title}: ${total} values from ${fmt(first)} to ${fmt(last)}`;
  }
}

/** One bar (a rectangle) as a closed subpath; zero-height bars draw nothing. */
export function barPath(x, y, width, height) {
  return `M${x.toFixed(2)},${y.toFixed(2)}h${width.toFixed(2)}v${height.toFixed(2)}h${(-width).toFixed(2)}z`;
}

/** The first `count` children of `parent`, made (as `tag`) or removed to fit: reused nodes. */
export function reuseChildren(parent, count, tag, attrs = {}) {
  while (parent.childElementCount < count) parent.append(svg(tag, attrs));
  while (parent.childElementCount > count) parent.lastElementChild.remove();
  return parent.children;
}

/**
 * Polyline path through (xs[k], ys[k]) with null/non-finite points breaking the line.
 * `columns` (the plot's width in px): with many more points than that, only the first, last,
 * lowest and highest point of each pixel column are kept (M4 aggregation): the line drawn is
 * the same, and the path stays a few hundred points long however long the run.
 */
export function linePath(xs, ys, x, y, columns = 0) {
  if (columns > 0 && xs.length > 4 * columns) return m4Path(xs, ys, x, y);
  let path = "";
  let pen = false;
  for (let k = 0; k < xs.length; k++) {
    const v = ys[k];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      pen = false;
      continue;
    }
    path += `${pen ? "L" : "M"}${x(xs[k]).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return path;
}

function m4Path(xs, ys, x, y) {
  let path = "";
  let pen = false;
  let column = null; // the pixel column being gathered: its first, lowest, highest, last point
  let first;
  let low;
  let high;
  let last;
  const flush = () => {
    if (column === null) return;
    const points = [first, low, high, last].sort((a, b) => a[2] - b[2]); // in drawing order
    let previous = -1;
    for (const [px, py, k] of points) {
      if (k === previous) continue;
      path += `${pen ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`;
      pen = true;
      previous = k;
    }
    column = null;
  };
  for (let k = 0; k < xs.length; k++) {
    const v = ys[k];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      flush();
      pen = false;
      continue;
    }
    const px = x(xs[k]);
    const py = y(v);
    const point = [px, py, k];
    const at = Math.round(px);
    if (at !== column) {
      flush();
      column = at;
      first = low = high = last = point;
      continue;
    }
    if (py > low[1]) low = point; // screen y grows downwards: the lowest value is highest y
    if (py < high[1]) high = point;
    last = point;
  }
  flush();
  return path;
}
