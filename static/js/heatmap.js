// Decoding the API's quantised grids and painting them with the palette.
//
// The server quantises each grid to bytes (0..255 spanning [min, max]) to keep /boundary small:
// base64 text in JSON answers ("u8-base64"), the bytes themselves in binary stream frames
// ("u8"). The page maps bytes straight to colours through a 256-entry lookup table per grid.

import { CLASS_COLOURS, DIVERGING_TABLE } from "./palette.js";

/** Decode `{encoding: "u8-base64" | "u8", data, min, max, shape}` into bytes plus its value
 * range. */
export function decodeGrid(grid) {
  if (!grid || grid.data === undefined || grid.data === null) return null;
  // 1-D inputs (e.g. the sine dataset) come as (G,): draw them as a one-row strip.
  const shape = grid.shape?.length === 1 ? [1, grid.shape[0]] : grid.shape;
  if (grid.bytes) return { bytes: grid.bytes, min: grid.min ?? 0, max: grid.max ?? 0, shape };
  if (grid.data instanceof Uint8Array) return { bytes: grid.data, min: grid.min ?? 0, max: grid.max ?? 0, shape };
  const text = atob(grid.data);
  const bytes = new Uint8Array(text.length);
  for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
  const min = grid.min ?? 0;
  const max = grid.max ?? 0;
  Object.defineProperty(grid, "bytes", { value: bytes, enumerable: false });
  return { bytes, min, max, shape };
}

/** Value of byte u in a grid spanning [min, max]. */
export function byteValue(u, min, max) {
  return min + ((max - min) * u) / 255;
}

// Pixels are written as packed RGBA words (one store per pixel instead of four); canvas
// ImageData is little-endian on every platform browsers run on, so the word is 0xAABBGGRR.
const packRGBA = (r, g, b) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;

/**
 * 256-entry byte → packed-colour table for one grid. The scale is symmetric around `centre`
 * (default 0) so that a neuron's sign is its colour and the centre value is always white;
 * `halfWidth` overrides the symmetric scale; `discrete` snaps to the two sides, or to
 * `levels` bands each side when given.
 */
function colourTable(min, max, options) {
  const centre = options.centre ?? 0;
  const halfWidth = options.halfWidth ?? Math.max(Math.abs(min - centre), Math.abs(max - centre));
  const table = new Uint32Array(256);
  if (options.tint) {
    // One class's probability: white (0) to that class's colour (1), as in the output plot.
    const [r, g, b] = options.tint;
    for (let u = 0; u < 256; u++) {
      const p = Math.max(0, Math.min(1, byteValue(u, min, max)));
      table[u] = packRGBA(255 - p * (255 - r), 255 - p * (255 - g), 255 - p * (255 - b));
    }
    return table;
  }
  for (let u = 0; u < 256; u++) {
    const t = Math.max(-1, Math.min(1, (byteValue(u, min, max) - centre) / (halfWidth || 1)));
    // Discrete: classes snap to their side of the boundary; values to a few bands (`levels`).
    const snapped = options.levels ? Math.round(t * options.levels) / options.levels : t >= 0 ? 0.72 : -0.72;
    let k = Math.round((((options.discrete ? snapped : t) + 1) / 2) * 255);
    k *= 3;
    table[u] = packRGBA(DIVERGING_TABLE[k], DIVERGING_TABLE[k + 1], DIVERGING_TABLE[k + 2]);
  }
  return table;
}

/**
 * Paint a (rows, cols) grid whose row 0 is the *lowest* y (maths orientation) into `pixels`
 * (a Uint32Array over ImageData, `stride` pixels per row) at (x0, y0), flipping so that larger
 * y is drawn higher up. options: centre, halfWidth, discrete (see colourTable).
 */
export function paintScalarInto(pixels, stride, x0, y0, decoded, options = {}) {
  const { bytes, min, max } = decoded;
  const [rows, cols] = decoded.shape;
  const table = colourTable(min, max, options);
  for (let r = 0; r < rows; r++) {
    let o = (y0 + rows - 1 - r) * stride + x0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) pixels[o++] = table[bytes[base + c]];
  }
}

/** paintScalarInto for a whole ImageData of the grid's own size. */
export function paintScalarGrid(imageData, decoded, options = {}) {
  paintScalarInto(new Uint32Array(imageData.data.buffer), imageData.width, 0, 0, decoded, options);
}

/**
 * Paint a (K, G, G) class-probability grid (class-major, as the API sends it): each pixel
 * mixes the class colours by probability, faded towards white; `discrete` shows the argmax.
 */
export function paintClassGrid(imageData, decoded, options = {}) {
  const { bytes, min, max } = decoded;
  const [classes, rows, cols] = decoded.shape;
  const plane = rows * cols;
  const out = imageData.data;
  const fade = options.discrete ? 0.35 : 0.55;
  for (let r = 0; r < rows; r++) {
    const target = (rows - 1 - r) * cols;
    for (let c = 0; c < cols; c++) {
      let red = 0;
      let green = 0;
      let blue = 0;
      let best = 0;
      let bestP = -1;
      const cell = r * cols + c;
      for (let k = 0; k < classes; k++) {
        const p = byteValue(bytes[k * plane + cell], min, max);
        if (p > bestP) {
          bestP = p;
          best = k;
        }
        const colour = CLASS_COLOURS[k % CLASS_COLOURS.length];
        red += p * colour[0];
        green += p * colour[1];
        blue += p * colour[2];
      }
      if (options.discrete) [red, green, blue] = CLASS_COLOURS[best % CLASS_COLOURS.length];
      const o = (target + c) * 4;
      out[o] = 255 - fade * (255 - red);
      out[o + 1] = 255 - fade * (255 - green);
      out[o + 2] = 255 - fade * (255 - blue);
      out[o + 3] = 255;
    }
  }
}
