// Normalises /api/catalog into plain lists the controls can iterate in display order.
// The server may send a registry either as a list of objects or as a name → object mapping.

function asList(registry) {
  if (!registry) return [];
  if (Array.isArray(registry)) {
    return registry.map((entry) => (typeof entry === "string" ? { name: entry } : entry));
  }
  return Object.entries(registry).map(([name, entry]) => ({ name, ...(entry || {}) }));
}

export const FALLBACK_DEFAULTS = Object.freeze({
  dataset: { name: "circle", n_samples: 400, noise: 0.1, train_fraction: 0.5, seed: 1 },
  features: ["x1", "x2"],
  layers: [
    { units: 8, activation: "tanh" },
    { units: 8, activation: "tanh" },
  ],
  init: { name: "xavier_uniform", scale: null },
  loss: null,
  optimizer: { name: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  learning_rate: 0.03,
  batch_size: 16,
  l1: 0.0,
  l2: 0.0,
  grad_clip: null,
  seed: 0,
});

export function normaliseCatalog(raw) {
  const datasets = asList(raw.datasets);
  const byName = (list) => Object.fromEntries(list.map((entry) => [entry.name, entry]));
  const activations = asList(raw.activations);
  const losses = asList(raw.losses);
  const optimizers = asList(raw.optimizers);
  return {
    datasets,
    datasetByName: byName(datasets),
    features: asList(raw.features),
    activations,
    activationByName: byName(activations),
    initializers: asList(raw.initializers),
    losses,
    lossByName: byName(losses),
    taskLosses: raw.task_losses ?? null,
    optimizers,
    optimizerByName: byName(optimizers),
    limits: { max_depth: 16, max_width: 64, max_samples: 5000, max_grid: 128, ...(raw.limits || {}) },
    defaults: raw.defaults ?? raw.default_config ?? FALLBACK_DEFAULTS,
  };
}

/** Losses that fit a dataset's task (first = the task's default), or all when unknown. */
export function lossesForTask(catalog, task) {
  const names = catalog.taskLosses?.[task];
  if (names) return names.map((name) => catalog.lossByName[name] ?? { name });
  const fits = catalog.losses.filter((loss) => !loss.tasks || loss.tasks.includes(task));
  return fits.length ? fits : catalog.losses;
}

/** Optimiser hyperparameter defaults, e.g. {beta1: 0.9, ...} for adam. */
export function optimizerDefaults(catalog, name) {
  const entry = catalog.optimizerByName[name];
  return { ...(entry?.defaults ?? entry?.params ?? {}) };
}
