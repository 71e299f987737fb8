// Live-stream frames: decoding the binary encoding, and keeping what a trimmed frame leaves out.
//
// A binary frame (app/schemas/binary.py) is one message: a uint32 little-endian header
// length N, N bytes of JSON whose number arrays are replaced by {"$": k}, then the arrays
// themselves, 8-byte aligned, described by the header's "$arrays": [dtype, shape, offset].
// They become typed arrays over the message's own bytes (no number is parsed as text):
// "f4" Float32Array, "u4" Uint32Array, "u1" Uint8Array (a boundary grid's bytes). A 2-D
// array is a plain array of row views. Float32Array and friends read the platform's byte
// order, little-endian on every platform browsers run on (as canvas ImageData assumes).
//
// NaN in an "f4" array stands for the JSON frame's null (a value not computed, or not finite
// after divergence): such an array is decoded into a plain array with null in those places,
// so views read exactly what a JSON frame would have given them.

const TYPES = { f4: Float32Array, u4: Uint32Array, u1: Uint8Array };
const text = new TextDecoder();

/** One binary frame (an ArrayBuffer) → the frame object, arrays as typed arrays. */
export function decodeFrame(buffer) {
  const length = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(text.decode(new Uint8Array(buffer, 4, length)));
  const start = 4 + length;
  const arrays = header.$arrays.map(([dtype, shape, offset]) => typedArray(buffer, dtype, shape, start + offset));
  delete header.$arrays;
  return restore(header, arrays);
}

function typedArray(buffer, dtype, shape, byteOffset) {
  const Type = TYPES[dtype];
  if (!Type) throw new Error(`unknown array type ${dtype} in a stream frame`);
  const count = shape.reduce((a, b) => a * b, 1);
  let flat = new Type(buffer, byteOffset, count);
  if (dtype === "f4" && hasNaN(flat)) flat = Array.from(flat, (v) => (Number.isNaN(v) ? null : v));
  if (shape.length < 2) return flat;
  const cols = shape[1];
  const row = (i) => (Array.isArray(flat) ? flat.slice(i * cols, (i + 1) * cols) : flat.subarray(i * cols, (i + 1) * cols));
  return Array.from({ length: shape[0] }, (_, i) => row(i));
}

function hasNaN(values) {
  for (let k = 0; k < values.length; k++) if (values[k] !== values[k]) return true;
  return false;
}

function restore(value, arrays) {
  if (Array.isArray(value)) return value.map((v) => restore(v, arrays));
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$") return arrays[value.$];
  for (const key of keys) value[key] = restore(value[key], arrays);
  return value;
}

/**
 * A play frame's trace leaves out what the page said it does not draw (the other edge
 * matrix, other layers' summaries, the focus sample's values: see the `view` of the play
 * message). Fill those gaps with the values the page already has from `previous` (the last
 * values it was sent, never invented ones), as long as the network has the same shape.
 */
export function fillTrimmed(previous, trace) {
  const before = previous?.layers;
  if (!before || before.length !== trace.layers.length) return trace;
  const layers = trace.layers.map((layer, l) => {
    const old = before[l];
    if (old.fan_in !== layer.fan_in || old.fan_out !== layer.fan_out) return layer;
    let filled = layer;
    const fill = (changes) => (filled = { ...filled, ...changes });
    if (layer.W === null && old.W !== null) fill({ W: old.W });
    if (layer.dW === null && old.dW !== null) fill({ dW: old.dW });
    if (isEmpty(layer.summaries) && !isEmpty(old.summaries)) fill({ summaries: old.summaries });
    if (allNull(layer.sample) && !allNull(old.sample)) fill({ sample: old.sample });
    return filled;
  });
  return { ...trace, layers };
}

const isEmpty = (object) => !object || Object.keys(object).length === 0;
const allNull = (object) => !object || Object.values(object).every((v) => v === null);
