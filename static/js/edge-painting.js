// How the network's edge canvas is painted: every edge, then the neurons' outlines and |dz|
// dots over the heatmaps. No page objects here, only a 2D context and plain numbers, so that
// the same code paints in the edge painter's worker and, where a browser cannot hand a canvas
// to a worker, on the page's main thread.
//
// Each edge is stroked on its own, in the order the SVG drew them (weight layer, then source,
// then target), with its colour, width and opacity: the same picture as one <line> per edge
// with stroke, stroke-width and stroke-opacity.
//
// An edge's look is one small integer (`edgeLook`), so a frame compares the whole diagram's
// looks with the last ones drawn without building a string or an object per edge.

import { NEGATIVE, POSITIVE } from "./palette.js";

const OPACITY_STEPS = 37; // opacity 0.25 + 0.74·k/37: finer than the eye tells apart
/** An edge with no number to show (no trace yet, or all zero): thin and grey. */
export const BLANK_EDGE = 0;
/** … and dashed when its layer's matrix is missing altogether. */
export const MISSING_EDGE = 1;
const GREY = "#c5cbd3";

/** The look of an edge of value `sign` (< 0 or > 0) and strength `t` in [0, 1] drawn up to
 * `maxWidth` px wide: its sign, its width in 0.1 px and its opacity step, packed. */
export function edgeLook(sign, t, maxWidth) {
  const tenths = Math.round((0.4 + maxWidth * t) * 10);
  const opacity = Math.round(t * OPACITY_STEPS);
  return 2 + (sign < 0 ? 1 : 0) + 4 * (tenths + 1000 * opacity);
}

/**
 * Paint one frame of the diagram on `context`, whose canvas covers `scene.box` (diagram CSS
 * px) at `scene.ratio` device px per CSS px. `scene` also holds the edges' `segments` (x1, y1,
 * x2, y2 per edge), the neurons' `positions` (per column, {x, y} centres), their size `node`
 * and the dots' colour `dzColour`; `looks` has one `edgeLook` per edge and `columns` one
 * {dim, current, cells: [{outline, width, radius, opacity}]} per column.
 */
export function paintDiagram(context, scene, looks, columns) {
  const { box, ratio } = scene;
  context.setTransform(ratio, 0, 0, ratio, -box.x * ratio, -box.y * ratio); // diagram px
  context.clearRect(box.x, box.y, box.width, box.height);
  paintEdges(context, scene.segments, looks);
  paintOutlines(context, scene, columns);
}

function paintEdges(context, segments, looks) {
  // Square ends at the neurons' borders: the edges lie over the heatmaps, and a round end
  // would reach into them.
  context.lineCap = "butt";
  let dashed = false;
  let colour = null; // what the context holds: a colour string is parsed on every write
  let width = -1;
  let alpha = -1;
  for (let n = 0; n < looks.length; n++) {
    const look = looks[n];
    let nextColour = GREY;
    let nextWidth = 0.6;
    let nextAlpha = 0.6;
    if (look >= 2) {
      const packed = (look - 2) >> 2;
      nextColour = (look - 2) % 4 === 1 ? NEGATIVE : POSITIVE;
      nextWidth = (packed % 1000) / 10;
      nextAlpha = 0.25 + (0.74 * Math.floor(packed / 1000)) / OPACITY_STEPS;
    }
    if (nextColour !== colour) context.strokeStyle = colour = nextColour;
    if (nextWidth !== width) context.lineWidth = width = nextWidth;
    if (nextAlpha !== alpha) context.globalAlpha = alpha = nextAlpha;
    if ((look === MISSING_EDGE) !== dashed) {
      dashed = look === MISSING_EDGE;
      context.setLineDash(dashed ? [2, 3] : []);
    }
    context.beginPath();
    context.moveTo(segments[4 * n], segments[4 * n + 1]);
    context.lineTo(segments[4 * n + 2], segments[4 * n + 3]);
    context.stroke();
  }
  context.globalAlpha = 1;
  context.setLineDash([]);
}

/** Each neuron's outline (dashed in columns not yet computed, glowing in the column the
 * forward pass is at), then its |dz| dot. */
function paintOutlines(context, { positions, node, ratio, dzColour }, columns) {
  columns.forEach((column, c) => {
    context.setLineDash(column.dim ? [3, 2] : []);
    context.shadowColor = column.current ? "rgba(33, 102, 172, 0.9)" : "transparent";
    context.shadowBlur = column.current ? 3 * ratio : 0;
    column.cells.forEach((look, k) => {
      const p = positions[c][k];
      context.strokeStyle = look.outline;
      context.lineWidth = look.width;
      context.beginPath();
      context.roundRect(p.x - node / 2, p.y - node / 2, node, node, 3);
      context.stroke();
    });
  });
  context.setLineDash([]);
  context.shadowColor = "transparent";
  context.shadowBlur = 0;
  columns.forEach((column, c) => {
    column.cells.forEach((look, k) => {
      if (!(look.radius > 0)) return;
      const p = positions[c][k];
      context.globalAlpha = look.opacity;
      context.beginPath();
      context.arc(p.x - node / 2, p.y - node / 2, look.radius, 0, 2 * Math.PI);
      context.fillStyle = dzColour;
      context.fill();
      context.strokeStyle = "#fff";
      context.lineWidth = 0.8;
      context.stroke();
    });
  });
  context.globalAlpha = 1;
}
