// The network's edges on one canvas under the SVG neurons (and over their heatmaps). Hundreds
// of SVG lines whose stroke attributes change every frame cost the page style, layout and
// paint work per line; one canvas redrawn in a single pass costs a few hundred stroke calls
// and one layer's raster.
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

export class EdgeCanvas {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.drawn = null;
  }

  /**
   * Size the canvas to the part of the diagram it draws on, `box` ({x, y, width, height} in
   * the diagram's CSS px), sharp on high-density screens. Every frame that draws hands all of
   * the canvas's pixels to the compositor, so it covers the edges and neurons, not the
   * diagram's labels and margins.
   */
  resize(box) {
    const ratio = window.devicePixelRatio || 1;
    this.box = box;
    this.canvas.width = Math.round(box.width * ratio);
    this.canvas.height = Math.round(box.height * ratio);
    Object.assign(this.canvas.style, { left: `${box.x}px`, top: `${box.y}px`, width: `${box.width}px`, height: `${box.height}px` });
    this.drawn = null;
  }

  /**
   * Draw `segments` (a flat array x1, y1, x2, y2 per edge) with `looks` (an Int32Array, one
   * `edgeLook` per edge), then what `overlay.paint(context)` draws over them (`overlay.key`
   * says what that is); a frame whose edges and overlay look as they did last time leaves the
   * canvas alone. Returns whether it drew.
   */
  draw(segments, looks, overlay = null) {
    const key = overlay?.key ?? null;
    if (this.drawn && sameLooks(this.drawn, looks) && this.drawnKey === key) return false;
    this.drawn = looks.slice();
    this.drawnKey = key;
    const context = this.context;
    const box = this.box;
    const ratio = this.canvas.width / box.width;
    context.setTransform(ratio, 0, 0, ratio, -box.x * ratio, -box.y * ratio); // diagram px
    context.clearRect(box.x, box.y, box.width, box.height);
    // Square ends at the neurons' borders: the edges lie over the heatmaps now, and a round
    // end would reach into them.
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
    overlay?.paint(context);
    return true;
  }
}

function sameLooks(a, b) {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
