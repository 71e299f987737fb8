// The network's edges on one canvas under the SVG neurons. Hundreds of SVG lines whose stroke
// attributes change every frame cost the page style, layout and paint work per line; one
// canvas redrawn in a single pass costs a few hundred stroke calls and one layer's raster.
//
// Each edge is stroked on its own, in the order the SVG drew them (weight layer, then source,
// then target), with its colour, width and opacity: the same picture as one <line> per edge
// with stroke, stroke-width and stroke-opacity.

/** One edge's look: `{stroke, width, opacity, dashed}` (width in CSS px). */
export function lookKey(look) {
  return `${look.stroke}|${look.width}|${look.opacity}|${look.dashed ? 1 : 0}`;
}

export class EdgeCanvas {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.drawnKey = null;
  }

  /** Size the canvas to the diagram (CSS px), sharp on high-density screens. */
  resize(width, height) {
    const ratio = window.devicePixelRatio || 1;
    this.width = width;
    this.height = height;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.drawnKey = null;
  }

  /**
   * Draw `segments` (a flat array x1, y1, x2, y2 per edge) with `looks` (one per edge); a
   * frame whose edges all look as they did last time leaves the canvas alone.
   */
  draw(segments, looks) {
    const key = looks.map(lookKey).join(";");
    if (key === this.drawnKey) return false;
    this.drawnKey = key;
    const context = this.context;
    const ratio = this.canvas.width / this.width;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, this.width, this.height);
    context.lineCap = "round";
    for (let n = 0; n < looks.length; n++) {
      const look = looks[n];
      context.strokeStyle = look.stroke;
      context.lineWidth = Number(look.width);
      context.globalAlpha = Number(look.opacity);
      context.setLineDash(look.dashed ? [2, 3] : []);
      context.beginPath();
      context.moveTo(segments[4 * n], segments[4 * n + 1]);
      context.lineTo(segments[4 * n + 2], segments[4 * n + 3]);
      context.stroke();
    }
    context.globalAlpha = 1;
    context.setLineDash([]);
    return true;
  }
}
