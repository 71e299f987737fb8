// What differs between two recurrent configs, in words (the list above a comparison's columns
// and the label of a "Compare with…" setup B). Every field of the config is compared.

import { describeInit as init, differencesBy, or, TRAINING_FIELDS } from "../differences.js";
import { displayName } from "../names.js";

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
  ...TRAINING_FIELDS,
  ["truncated BPTT", (c) => (c.truncate ? `k = ${c.truncate}` : "off (full)")],
];

/** [{field, a, b}] for every field whose value differs between recurrent configs `a`, `b`. */
export function recurrentDifferences(a, b) {
  if (!a?.dataset || !b?.dataset) return [];
  return differencesBy(FIELDS, a, b);
}
