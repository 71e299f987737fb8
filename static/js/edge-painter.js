// The edge painter: a worker that owns the page's edge canvases (handed over with
// transferControlToOffscreen) and paints them. What a play frame costs to paint — a few
// hundred strokes, their raster and the canvas's hand-over to the compositor — is spent here,
// off the page's main thread; the page posts only the frame's numbers.
//
// Messages in: {kind: "canvas", id, canvas}, {kind: "scene", id, scene} (after every layout:
// the canvas's box and pixel ratio, the edges' segments, the neurons' positions), {kind:
// "draw", id, seq, looks, columns}. Out: {id, painted: seq} once a draw is on the canvas.

import { paintDiagram } from "./edge-painting.js";

const canvases = new Map();

self.addEventListener("message", ({ data }) => {
  if (data.kind === "canvas") {
    canvases.set(data.id, { canvas: data.canvas, context: data.canvas.getContext("2d"), scene: null });
    return;
  }
  const entry = canvases.get(data.id);
  if (data.kind === "scene" && entry) {
    entry.scene = data.scene;
    entry.canvas.width = Math.round(data.scene.box.width * data.scene.ratio);
    entry.canvas.height = Math.round(data.scene.box.height * data.scene.ratio);
  } else if (data.kind === "draw") {
    if (entry?.scene) paintDiagram(entry.context, entry.scene, data.looks, data.columns);
    // Every draw is answered, even one with nothing to paint on yet: the page waits for it.
    self.postMessage({ id: data.id, painted: data.seq });
  }
});
