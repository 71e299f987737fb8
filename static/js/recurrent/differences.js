// What differs between two recurrent configs, in words (the list above a comparison's columns
// and the label of a "Compare with…" setup B). Every field of the config is compared.

import { displayName } from "../names.js";

const or = (value, none) => (value === null || value === undefined ? none : String(value));
const init = (i) => `${displayName(i.name)}${i.scale === null || i.scale === undefined ? "" : ` (scale ${i.scale})`}`;

function optimizer(o) {
  const params = Object.entries(o)
    .filter(([key, value]) => key !== "name" && value !== null && value !== undefined)
    .map(([key, value]) => `${key} ${value}`);
  return `${displayName(o.name)}${params.length ? ` (${params.join(", ")})` : ""}`;
}

// [label, read(config) → text]: the order a reader meets them in the recurrent setup panel.
const FIELDS = [
  ["task", (c) => c.dataset.name],
  ["length T", (c) => String(c.dataset.length)],
  ["sequences", (c) => String(c.dataset.n_samples)],
  ["noise", (c) => String(c.dataset.noise)],
  ["train split", (c) => `${Math.round(c.dataset.train_fraction * 100)}%`],
  ["data seed", (c) => String(c.dataset.seed)],
  ["head reads", (c) => or(c.head, "the task's default")],
  ["cell", (c) => c.cell.toUpperCase()],
  ["activation", (c) => (c.cell === "rnn" ? displayName(c.activation) : "—")],
  ["hidden units", (c) => String(c.hidden)],
  ["init W_xh, W_hy", (c) => init(c.init)],
  ["init W_hh", (c) => init(c.recurrent_init)],
  ["forget-gate bias", (c) => (c.cell === "lstm" ? String(c.forget_bias) : "—")],
  ["weight seed", (c) => String(c.seed)],
  ["loss", (c) => (c.loss ? displayName(c.loss) : "the task's default")],
  ["optimiser", (c) => optimizer(c.optimizer)],
  ["learning rate η", (c) => String(c.learning_rate)],
  ["batch size", (c) => String(c.batch_size)],
  ["L1", (c) => String(c.l1)],
  ["L2", (c) => String(c.l2)],
  ["gradient clipping", (c) => or(c.grad_clip, "off")],
  ["truncated BPTT", (c) => (c.truncate ? `k = ${c.truncate}` : "off (full)")],
];

/** [{field, a, b}] for every field whose value differs between recurrent configs `a`, `b`. */
export function recurrentDifferences(a, b) {
  if (!a?.dataset || !b?.dataset) return [];
  const out = [];
  for (const [field, read] of FIELDS) {
    const left = read(a);
    const right = read(b);
    if (left !== right) out.push({ field, a: left, b: right });
  }
  return out;
}
