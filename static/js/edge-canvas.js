// The network's edges, the neurons' outlines and their |dz| dots on one canvas over the
// heatmaps. Hundreds of SVG lines whose stroke attributes change every frame cost the page
// style, layout and paint work per line; one canvas redrawn in a single pass costs a few
// hundred stroke calls and one layer's raster. Where the browser can hand a canvas to a
// worker (OffscreenCanvas), the edge painter's worker pays even that: a play frame's main
// thread then only posts the edges' looks (one integer each) and the neurons' looks.
// Elsewhere, or if the worker cannot start, the same painting runs on the main thread.
//
// The worker paints asynchronously: at most one draw per canvas is in flight, and a frame
// that arrives meanwhile replaces the one waiting (never a queue). `allPainted()` settles
// once the last frame given to every canvas is painted (the page's aria-busy waits for it).

import { paintDiagram } from "./edge-painting.js";

export { BLANK_EDGE, MISSING_EDGE, edgeLook } from "./edge-painting.js";

let painter = null; // one worker for every edge canvas on the page
let painterFailed = false;
const inWorker = new Map(); // id → the EdgeCanvas the worker paints for
let nextId = 1;
let whenIdle = []; // allPainted()'s resolvers

function thePainter() {
  if (painter || painterFailed) return painter;
  try {
    painter = new Worker(new URL("./edge-painter.js", import.meta.url), { type: "module" });
  } catch {
    painterFailed = true;
    return null;
  }
  painter.addEventListener("message", ({ data }) => inWorker.get(data.id)?.painted(data.painted));
  // A worker that cannot load (an old browser without module workers) or fails: every canvas
  // it had goes back to the main thread, on a fresh element (a handed-over canvas stays so).
  painter.addEventListener("error", (event) => {
    event.preventDefault();
    painterFailed = true;
    painter = null;
    for (const canvas of inWorker.values()) canvas.paintHere();
    inWorker.clear();
    settle();
  });
  return painter;
}

// Started as the page's modules load, so that the worker boots while the page fetches its
// session rather than after (its first painted frame is part of the first render).
if (typeof HTMLCanvasElement === "function" && "transferControlToOffscreen" in HTMLCanvasElement.prototype) thePainter();

function settle() {
  for (const canvas of inWorker.values()) if (canvas.inFlight !== null) return;
  const resolvers = whenIdle;
  whenIdle = [];
  resolvers.forEach((resolve) => resolve());
}

/** Settles once the last frame given to every edge canvas is painted. */
export function allPainted() {
  return new Promise((resolve) => {
    whenIdle.push(resolve);
    settle();
  });
}

export class EdgeCanvas {
  constructor(canvas) {
    this.canvas = canvas;
    this.scene = null;
    this.drawn = null;
    this.drawnKey = null;
    this.inFlight = null; // the seq of the draw the worker is painting
    this.waiting = null; // a newer frame for after it
    this.seq = 0;
    const worker = typeof canvas.transferControlToOffscreen === "function" ? thePainter() : null;
    if (worker) {
      this.id = nextId++;
      inWorker.set(this.id, this);
      const offscreen = canvas.transferControlToOffscreen();
      worker.postMessage({ kind: "canvas", id: this.id, canvas: offscreen }, [offscreen]);
    } else {
      this.context = canvas.getContext("2d");
    }
  }

  get worker() {
    return this.context === undefined ? painter : null;
  }

  /**
   * Size the canvas to the part of the diagram it draws on, `box` ({x, y, width, height} in
   * the diagram's CSS px), sharp on high-density screens, and take the diagram's geometry:
   * `segments` (x1, y1, x2, y2 per edge), the neurons' `positions` and size `node`, and the
   * dots' colour `dzColour`. Every frame that draws hands all of the canvas's pixels to the
   * compositor, so it covers the edges and neurons, not the diagram's labels and margins.
   */
  resize(box, { segments, positions, node, dzColour }) {
    const ratio = window.devicePixelRatio || 1;
    this.scene = { box, ratio, segments: Float64Array.from(segments), positions, node, dzColour };
    Object.assign(this.canvas.style, { left: `${box.x}px`, top: `${box.y}px`, width: `${box.width}px`, height: `${box.height}px` });
    this.drawn = null;
    this.sizeCanvas();
    this.worker?.postMessage({ kind: "scene", id: this.id, scene: this.scene });
  }

  sizeCanvas() {
    if (!this.context || !this.scene) return;
    this.canvas.width = Math.round(this.scene.box.width * this.scene.ratio);
    this.canvas.height = Math.round(this.scene.box.height * this.scene.ratio);
  }

  /**
   * Draw the edges in `looks` (an Int32Array, one `edgeLook` per edge), then the neurons'
   * outlines and dots in `columns` (see paintDiagram), which `key` identifies; a frame whose
   * edges and neurons look as they did last time leaves the canvas alone. Returns whether it
   * drew (or had the worker draw).
   */
  draw(looks, columns, key) {
    if (this.drawn && sameLooks(this.drawn, looks) && this.drawnKey === key) return false;
    this.drawn = looks.slice();
    this.drawnKey = key;
    this.columns = columns;
    const worker = this.worker;
    if (!worker) {
      paintDiagram(this.context, this.scene, this.drawn, columns);
      return true;
    }
    const frame = { kind: "draw", id: this.id, seq: ++this.seq, looks: this.drawn.slice(), columns };
    if (this.inFlight === null) this.post(frame);
    else this.waiting = frame; // replaces an older one that was waiting
    return true;
  }

  post(frame) {
    this.inFlight = frame.seq;
    this.worker.postMessage(frame, [frame.looks.buffer]);
  }

  /** The worker has painted draw `seq`. */
  painted(seq) {
    if (seq !== this.inFlight) return;
    this.inFlight = null;
    if (this.waiting) {
      const frame = this.waiting;
      this.waiting = null;
      this.post(frame);
    } else settle();
  }

  /** The worker failed: paint on the main thread from now on, on a fresh canvas element. */
  paintHere() {
    const fresh = this.canvas.cloneNode(false);
    this.canvas.replaceWith(fresh);
    this.canvas = fresh;
    this.context = fresh.getContext("2d");
    this.inFlight = this.waiting = null;
    this.sizeCanvas();
    if (this.drawn && this.scene) paintDiagram(this.context, this.scene, this.drawn, this.columns);
  }
}

function sameLooks(a, b) {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
