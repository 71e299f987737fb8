// Small SVG chart pieces shared by the inspectors: histograms and line plots.

import { svg } from "./dom.js";
import { fmt } from "./format.js";

/** Draw `{counts, edges}` as bars into a fresh <svg> of the given size. */
export function histogramChart({ counts, edges }, { width, height, colour, title }) {
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "histogram", role: "img" });
  const pad = { left: 4, right: 4, top: 16, bottom: 15 };
  const max = Math.max(1, ...counts);
  const span = edges[edges.length - 1] - edges[0] || 1;
  const x = (v) => pad.left + ((v - edges[0]) / span) * (width - pad.left - pad.right);
  const plotHeight = height - pad.top - pad.bottom;
  chart.append(svg("text", { x: pad.left, y: 11, class: "chart-title" }, title));
  counts.forEach((count, k) => {
    const barHeight = (count / max) * plotHeight;
    chart.append(
      svg("rect", {
        x: x(edges[k]),
        y: pad.top + plotHeight - barHeight,
        width: Math.max(0.5, x(edges[k + 1]) - x(edges[k]) - 0.5),
        height: barHeight,
        fill: colour,
      }),
    );
  });
  chart.append(
    svg("text", { x: pad.left, y: height - 2, class: "tick" }, fmt(edges[0])),
    svg("text", { x: width - pad.right, y: height - 2, class: "tick", "text-anchor": "end" }, fmt(edges[edges.length - 1])),
  );
  if (edges[0] < 0 && edges[edges.length - 1] > 0) {
    chart.append(svg("line", { x1: x(0), x2: x(0), y1: pad.top, y2: pad.top + plotHeight, class: "zero" }));
  }
  chart.setAttribute("aria-label", `${title}: ${counts.reduce((a, b) => a + b, 0)} values from ${fmt(edges[0])} to ${fmt(edges[edges.length - 1])}`);
  return chart;
}

/** Polyline path through (xs[k], ys[k]) with null/non-finite points breaking the line. */
export function linePath(xs, ys, x, y) {
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

