// What differs between two configs, in words: the list a comparison shows above its columns
// ("learning rate η: 0.03 → 1"). Every field of the config is compared; nothing is left out.

import { displayName } from "./names.js";

/** "10 × 16 Sigmoid", or "8 Tanh, 4 ReLU" when the layers differ; "none" without any. */
export function describeLayers(layers) {
  if (!layers.length) return "none";
  const groups = [];
  for (const layer of layers) {
    const last = groups[groups.length - 1];
    if (last && last.units === layer.units && last.activation === layer.activation) last.count += 1;
    else groups.push({ ...layer, count: 1 });
  }
  return groups.map((g) => `${g.count > 1 ? `${g.count} × ` : ""}${g.units} ${displayName(g.activation)}`).join(", ");
}

export function describeInit(init) {
  const scale = init.scale === null || init.scale === undefined ? "" : ` (scale ${init.scale})`;
  return `${displayName(init.name)}${scale}`;
}

export function describeOptimizer(optimizer) {
  const params = Object.entries(optimizer)
    .filter(([key, value]) => key !== "name" && value !== null && value !== undefined)
    .map(([key, value]) => `${key} ${value}`);
  return `${displayName(optimizer.name)}${params.length ? ` (${params.join(", ")})` : ""}`;
}

export const or = (value, none) => (value === null || value === undefined ? none : String(value));

// The training fields every kind of network has, in the setup panels' order.
export const TRAINING_FIELDS = [
  ["optimiser", (c) => describeOptimizer(c.optimizer)],
  ["learning rate η", (c) => String(c.learning_rate)],
  ["batch size", (c) => String(c.batch_size)],
  ["L1", (c) => String(c.l1)],
  ["L2", (c) => String(c.l2)],
  ["gradient clipping", (c) => or(c.grad_clip, "off")],
];

// [label, read(config) → text]: the order a reader meets them in the setup panel.
const FIELDS = [
  ["data", (c) => c.dataset.name],
  ["samples", (c) => String(c.dataset.n_samples)],
  ["noise", (c) => String(c.dataset.noise)],
  ["train split", (c) => `${Math.round(c.dataset.train_fraction * 100)}%`],
  ["data seed", (c) => String(c.dataset.seed)],
  ["input features", (c) => c.features.join(", ")],
  ["hidden layers", (c) => describeLayers(c.layers)],
  ["initialiser", (c) => describeInit(c.init)],
  ["weight seed", (c) => String(c.seed)],
  ["loss", (c) => (c.loss ? displayName(c.loss) : "the data's default")],
  ...TRAINING_FIELDS,
];

/** [{field, a, b}] for every field whose value differs between configs `a` and `b`. */
export function configDifferences(a, b) {
  if (!a || !b) return [];
  return differencesBy(FIELDS, a, b);
}

/** [{field, a, b}] for every one of `fields` ([label, read]) that reads differently. */
export function differencesBy(fields, a, b) {
  const out = [];
  for (const [field, read] of fields) {
    const left = read(a);
    const right = read(b);
    if (left !== right) out.push({ field, a: left, b: right });
  }
  return out;
}
