// The catalog's `recurrent` part (GET /api/catalog) in one shape for the recurrent views and
// controls: every range and name they offer comes from here, never from the page itself.

const range = (entry, fallbackMin, fallbackMax) => {
  if (Array.isArray(entry)) return { min: entry[0], max: entry[1] };
  return { min: entry?.min ?? fallbackMin, max: entry?.max ?? fallbackMax };
};
const names = (list) => (list ?? []).map((item) => (typeof item === "string" ? { name: item } : item));

/** The recurrent part with lookups, or null when the server offers no recurrent model. */
export function recurrentCatalog(catalog) {
  const raw = catalog?.recurrent;
  if (!raw) return null;
  const limits = raw.limits ?? {};
  const cells = names(raw.cells).map((cell) => ({ ...cell, takesActivation: Boolean(cell.takes_activation ?? cell.activation ?? cell.name === "rnn") }));
  const tasks = names(raw.tasks ?? raw.sequence_tasks).map((task) => ({
    ...task,
    heads: task.heads ?? task.allowed_heads ?? [task.default_head ?? "last"],
    defaultHead: task.default_head ?? (task.heads ?? task.allowed_heads ?? ["last"])[0],
    length: range(task.length ?? [task.min_length ?? 1, task.max_length ?? limits.max_sequence_length ?? 100], 1, 100),
  }));
  return {
    defaults: raw.defaults,
    cells,
    cellByName: Object.fromEntries(cells.map((cell) => [cell.name, cell])),
    activations: names(raw.activations ?? raw.rnn_activations),
    tasks,
    taskByName: Object.fromEntries(tasks.map((task) => [task.name, task])),
    // W_xh and the head take any initialiser of the catalog; W_hh lists its suited ones first.
    initializers: names(raw.initializers ?? catalog.initializers),
    recurrentInitializers: names(raw.recurrent_initializers ?? raw.initializers),
    hidden: range(limits.hidden ?? [1, limits.max_hidden], 1, 64),
    length: range(limits.length ?? [1, limits.max_sequence_length], 1, 100),
    gradClip: range(raw.grad_clip, 0, null),
    truncate: range(limits.truncate ?? raw.truncate, 1, null),
    // What a recurrent session takes while training (the dense list plus truncation).
    liveFields: new Set(raw.live_fields ?? catalog.live_fields ?? []),
  };
}

export const isRecurrent = (config) => config?.model === "recurrent";
