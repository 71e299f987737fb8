// Small SVG chart pieces shared by the views: histograms and line paths. Each chart is built
// once and then updated in place (attributes of the same elements), so redrawing it for a new
// step creates no nodes. A histogram's bars are one <path> (one attribute per frame instead of
// four per bar).

import { setAttrs, setText, svg } from "./dom.js";
import { fmt } from "./format.js";

/** `{counts, edges}` as bars in an <svg> of a fixed size; `update()` draws new numbers. */
export class HistogramChart {
  constructor({ width, height, colour, title }) {
    this.width = width;
    this.height = height;
    this.colour = colour;
    this.title = title;
    this.pad = { left: 4, right: 4, top: 16, bottom: 15 };
    this.node = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "histogram", role: "img" });
    this.bars = svg("path", { fill: colour, class: "bars" });
    this.low = svg("text", { x: this.pad.left, y: height - 2, class: "tick" });
    this.high = svg("text", { x: width - this.pad.right, y: height - 2, class: "tick", "text-anchor": "end" });
    this.zero = svg("line", { class: "zero", y1: this.pad.top, y2: height - this.pad.bottom, visibility: "hidden" });
    this.node.append(svg("text", { x: this.pad.left, y: 11, class: "chart-title" }, title), this.bars, this.low, this.high, this.zero);
  }

  update({ counts, edges }) {
    const { pad, width, height } = this;
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
    const bars = [];
    for (let k = 0; k < counts.length; k++) {
      const barHeight = (counts[k] / max) * plotHeight;
      const width = Math.max(0.5, x(edges[k + 1]) - x(edges[k]) - 0.5);
      bars.push(barPath(x(edges[k]), pad.top + plotHeight - barHeight, width, barHeight));
    }
    setAttrs(this.bars, { d: bars.join("") });
    setText(this.low, fmt(first));
    setText(this.high, fmt(last));
    const zero = first < 0 && last > 0;
    setAttrs(this.zero, zero ? { x1: x(0).toFixed(2), x2: x(0).toFixed(2), visibility: "visible" } : { visibility: "hidden" });
    setAttrs(this.node, { "aria-label": `${this.title}: ${total} values from ${fmt(first)} to ${fmt(last)}` });
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
