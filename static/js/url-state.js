// The whole setup lives in the query string, so a copied link reproduces it exactly.
//
// Readable short keys rather than one JSON blob, so a teacher can edit a link by hand:
//   ?data=spiral&noise=0.2&layers=8:tanh,8:tanh&lr=0.03&opt=adam&opt.beta1=0.9&hide=dataset
// `layers=8:sigmoid*10` repeats a layer; `layers=` (empty) means no hidden layer.
//
// Two setups side by side: `compare=1` and, for setup B, only what differs from A, prefixed
// with `b.`: `?layers=8:sigmoid*10&init=xavier_uniform&compare=1&b.layers=8:relu*10&b.init=he_normal`
// (`b.key=-` removes a key A has). A lesson's link is `?lesson=<id>`: the lesson brings its own
// setups (`pair=A,C` picks the two shown when it has more). `present=1` opens presenter mode.

const NUMBER_KEYS = {
  n: ["dataset", "n_samples"],
  noise: ["dataset", "noise"],
  split: ["dataset", "train_fraction"],
  dseed: ["dataset", "seed"],
  lr: ["learning_rate"],
  batch: ["batch_size"],
  l1: ["l1"],
  l2: ["l2"],
  seed: ["seed"],
};

/** Page options that are not part of the network config but belong in a shared link. */
export const DEFAULT_VIEW = Object.freeze({
  edges: "W", // "W" or "dW": what the diagram's edges show
  test: true, // show test points on the output plot
  discrete: false, // discretise the output heatmap
  scale: "log", // loss chart y-axis: "linear" or "log"
  speed: 3, // index into the speed presets
  hide: [], // classroom mode: control groups to hide
  present: false, // presenter mode: large text, no setup panel, keyboard-driven
});

const SETUP_NAMES = ["A", "B", "C", "D"];
const COMPARED = "b."; // prefix of setup B's keys
const REMOVED = "-"; // `b.key=-`: B does not have a key A has
// Keys that are not part of a setup: they never get a `b.` copy.
const PAGE_KEYS = new Set(["edges", "test", "discrete", "scale", "speed", "hide", "present", "compare", "lesson", "pair"]);

function parseLayers(text) {
  const layers = [];
  for (const part of text.split(",").filter(Boolean)) {
    const [spec, times] = part.split("*");
    const [units, activation] = spec.split(":");
    const count = times === undefined ? 1 : Number.parseInt(times, 10);
    for (let k = 0; k < Math.min(count, 64); k++) {
      layers.push({ units: Number.parseInt(units, 10), activation: activation || "tanh" });
    }
  }
  return layers;
}

function formatLayers(layers) {
  return layers.map((l) => `${l.units}:${l.activation}`).join(",");
}

/**
 * Read a link: {config, view, given, other, lesson, pair}. `config` fills what is absent from
 * `defaults`; `given` is the set of keys the link itself set; `other` is setup B's config when
 * the link compares two setups (else null); `lesson` a lesson's id (or null) and `pair` the
 * two of its setups to show (or null).
 */
export function readUrl(search, defaults) {
  const params = new URLSearchParams(search);
  const own = new URLSearchParams();
  const compared = new URLSearchParams();
  for (const [key, value] of params) {
    if (key.startsWith(COMPARED)) compared.append(key.slice(COMPARED.length), value);
    else own.append(key, value);
  }
  const { config, view, given } = readSetup(own, defaults);
  let other = null;
  if (params.has("compare") || [...compared.keys()].length) {
    const mixed = new URLSearchParams([...own].filter(([key]) => !PAGE_KEYS.has(key) && !compared.has(key)));
    for (const [key, value] of compared) if (value !== REMOVED) mixed.append(key, value);
    other = readSetup(mixed, defaults);
  }
  const pair = (params.get("pair") ?? "").split(",").filter((name) => SETUP_NAMES.includes(name));
  return {
    config,
    view,
    given,
    other,
    lesson: params.get("lesson") || null,
    pair: pair.length === 2 && pair[0] !== pair[1] ? pair : null,
  };
}

function readSetup(params, defaults) {
  const config = structuredClone(defaults);
  config.dataset = { ...config.dataset };
  if (params.has("data")) config.dataset.name = params.get("data");
  for (const [key, path] of Object.entries(NUMBER_KEYS)) {
    if (!params.has(key)) continue;
    const value = Number(params.get(key));
    if (!Number.isFinite(value)) continue;
    if (path.length === 2) config[path[0]][path[1]] = value;
    else config[path[0]] = value;
  }
  if (params.has("features")) config.features = params.get("features").split(",").filter(Boolean);
  if (params.has("layers")) config.layers = parseLayers(params.get("layers"));
  if (params.has("init")) config.init = { name: params.get("init"), scale: null };
  if (params.has("iscale")) config.init = { ...config.init, scale: Number(params.get("iscale")) };
  if (params.has("loss")) config.loss = params.get("loss") || null;
  if (params.has("clip")) {
    const clip = Number(params.get("clip"));
    config.grad_clip = params.get("clip") && clip > 0 ? clip : null;
  }
  if (params.has("opt")) config.optimizer = { name: params.get("opt") };
  for (const [key, value] of params) {
    if (key.startsWith("opt.") && Number.isFinite(Number(value))) {
      config.optimizer[key.slice(4)] = Number(value);
    }
  }
  const view = { ...DEFAULT_VIEW };
  if (params.has("edges")) view.edges = params.get("edges") === "dW" ? "dW" : "W";
  if (params.has("test")) view.test = params.get("test") !== "0";
  if (params.has("discrete")) view.discrete = params.get("discrete") === "1";
  if (params.has("scale")) view.scale = params.get("scale") === "linear" ? "linear" : "log";
  if (params.has("speed")) view.speed = Number.parseInt(params.get("speed"), 10) || 0;
  if (params.has("hide")) view.hide = params.get("hide").split(",").filter(Boolean);
  if (params.has("present")) view.present = params.get("present") === "1";
  return { config, view, given: new Set(params.keys()) };
}

/**
 * Fit a link's setup to its data, the way switching dataset in the page does: features the
 * data cannot feed are dropped (1-D data such as sine has x1 only) and a loss that does not fit
 * the data's task goes back to the task's default. Changes `config` in place; returns a
 * sentence naming each field the link set and the page changed, or null. Anything else that
 * does not fit is left for the server, whose answer names the field.
 */
export function adaptToData(config, catalog, given) {
  const dataset = catalog.datasetByName[config.dataset.name];
  if (!dataset) return null;
  const notes = [];
  const usable = dataset.features;
  const unusable = config.features.filter((name) => !usable.includes(name));
  if (unusable.length) {
    const kept = config.features.filter((name) => usable.includes(name));
    const fallback = catalog.defaults.features.filter((name) => usable.includes(name));
    config.features = kept.length ? kept : fallback.length ? fallback : usable.slice(0, 1);
    if (given.has("features")) {
      notes.push(
        `features: ${dataset.name} has ${dataset.input_dim === 1 ? "one input (x1)" : "inputs x1, x2"}, so ` +
          `${unusable.join(", ")} cannot be fed; using ${config.features.join(", ")}.`,
      );
    }
  }
  const losses = catalog.task_losses[dataset.task] ?? [];
  if (config.loss && !losses.includes(config.loss)) {
    notes.push(`loss: ${config.loss} does not fit ${dataset.task} data (${dataset.name}); using the default, ${losses[0]}.`);
    config.loss = null;
  }
  return notes.length ? `This link's setup was adapted to its data: ${notes.join(" ")}` : null;
}

/**
 * The query string for what the page shows: a config and view (every config field is written
 * out, so a link keeps meaning the same network even if the server's defaults change later);
 * with `other`, setup B as what differs from A; with `lesson`, the lesson's link instead of
 * the setups (a lesson brings its own), and `pair` when it shows other setups than A and B.
 */
export function writeUrl(config, view, { other = null, lesson = null, pair = null } = {}) {
  if (lesson) {
    const params = new URLSearchParams({ lesson });
    if (pair && pair.join(",") !== "A,B") params.set("pair", pair.join(","));
    writeView(params, view);
    return readable(params);
  }
  const params = setupParams(config);
  if (other) {
    params.set("compare", "1");
    const theirs = setupParams(other);
    for (const [key, value] of theirs) if (params.get(key) !== value) params.set(COMPARED + key, value);
    for (const key of [...params.keys()]) {
      if (!key.startsWith(COMPARED) && !PAGE_KEYS.has(key) && !theirs.has(key)) params.set(COMPARED + key, REMOVED);
    }
  }
  writeView(params, view);
  return readable(params);
}

function setupParams(config) {
  const params = new URLSearchParams();
  params.set("data", config.dataset.name);
  for (const [key, path] of Object.entries(NUMBER_KEYS)) {
    const value = path.length === 2 ? config[path[0]][path[1]] : config[path[0]];
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  params.set("features", config.features.join(","));
  params.set("layers", formatLayers(config.layers));
  params.set("init", config.init.name);
  if (config.init.scale !== null && config.init.scale !== undefined) {
    params.set("iscale", String(config.init.scale));
  }
  if (config.loss) params.set("loss", config.loss);
  if (config.grad_clip) params.set("clip", String(config.grad_clip));
  params.set("opt", config.optimizer.name);
  for (const [key, value] of Object.entries(config.optimizer)) {
    if (key !== "name" && value !== null && value !== undefined) params.set(`opt.${key}`, String(value));
  }
  return params;
}

export function writeView(params, view) {
  if (view.edges !== DEFAULT_VIEW.edges) params.set("edges", view.edges);
  if (view.test !== DEFAULT_VIEW.test) params.set("test", view.test ? "1" : "0");
  if (view.discrete !== DEFAULT_VIEW.discrete) params.set("discrete", view.discrete ? "1" : "0");
  if (view.scale !== DEFAULT_VIEW.scale) params.set("scale", view.scale);
  if (view.speed !== DEFAULT_VIEW.speed) params.set("speed", String(view.speed));
  if (view.hide.length) params.set("hide", view.hide.join(","));
  if (view.present) params.set("present", "1");
}

/** URLSearchParams escapes ":" and ","; they are safe in a query and far easier to read raw. */
function readable(params) {
  return params.toString().replaceAll("%3A", ":").replaceAll("%2C", ",");
}
