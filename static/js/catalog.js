// /api/catalog with lookups by name. Every rule the page follows about a config comes from here
// (app/schemas.py CatalogModel): the defaults, the limits, which fields apply live, which input
// features each dataset can feed, which losses fit a task.

export function normaliseCatalog(raw) {
  const byName = (list) => Object.fromEntries(list.map((entry) => [entry.name, entry]));
  return {
    ...raw,
    datasetByName: byName(raw.datasets),
    activationByName: byName(raw.activations),
    lossByName: byName(raw.losses),
    optimizerByName: byName(raw.optimizers),
    liveFields: new Set(raw.live_fields),
  };
}

/**
 * What the page knows about the session's data: its catalog entry, or for uploaded data
 * (which has none) the /data answer, which names the features it can feed. Undefined until
 * uploaded data has arrived.
 */
export function datasetInfo(state) {
  const name = state.config.dataset.name;
  if (name !== "csv") return state.catalog.datasetByName[name];
  return state.data?.name === "csv" ? state.data : undefined;
}

/** Losses that fit a task, the task's default first. */
export function lossesForTask(catalog, task) {
  return (catalog.task_losses[task] ?? []).map((name) => catalog.lossByName[name]);
}

/** Optimiser hyperparameter defaults, e.g. {beta1: 0.9, ...} for adam. */
export function optimizerDefaults(catalog, name) {
  return { ...(catalog.optimizerByName[name]?.defaults ?? {}) };
}
