// A recurrent setup in the link, with the same readable short keys as a dense one plus its own:
//   ?model=recurrent&task=delay&len=20&cell=lstm&hidden=16&rinit=orthogonal&clip=1&trunc=5
// Every field is written out, so a link keeps meaning the same run if defaults change later.
// Two recurrent setups side by side: `compare=1` and, for setup B, only what differs from A,
// prefixed with `b.` as in a dense link (`b.cell=lstm`; `b.clip=-` removes a key A has).

import { writeView } from "../url-state.js";

const NUMBERS = {
  len: ["dataset", "length"],
  n: ["dataset", "n_samples"],
  noise: ["dataset", "noise"],
  split: ["dataset", "train_fraction"],
  dseed: ["dataset", "seed"],
  hidden: ["hidden"],
  fbias: ["forget_bias"],
  lr: ["learning_rate"],
  batch: ["batch_size"],
  l1: ["l1"],
  l2: ["l2"],
  seed: ["seed"],
};
const NAMES = { task: ["dataset", "name"], cell: ["cell"], act: ["activation"] };

/** Is this link's setup a recurrent one? */
export function linksRecurrent(search) {
  return new URLSearchParams(search).get("model") === "recurrent";
}

/** The recurrent config a link holds, filled from `defaults` (the catalog's recurrent defaults). */
export function readRecurrentSetup(search, defaults) {
  const params = new URLSearchParams(search);
  const config = structuredClone(defaults);
  config.model = "recurrent";
  const put = (path, value) => {
    if (path.length === 2) config[path[0]] = { ...config[path[0]], [path[1]]: value };
    else config[path[0]] = value;
  };
  for (const [key, path] of Object.entries(NAMES)) if (params.get(key)) put(path, params.get(key));
  for (const [key, path] of Object.entries(NUMBERS)) {
    const value = Number(params.get(key));
    if (params.has(key) && params.get(key) !== "" && Number.isFinite(value)) put(path, value);
  }
  if (params.has("head")) config.head = params.get("head") || null;
  if (params.has("loss")) config.loss = params.get("loss") || null;
  if (params.has("init")) config.init = { name: params.get("init"), scale: null };
  if (params.has("iscale")) config.init = { ...config.init, scale: Number(params.get("iscale")) };
  if (params.has("rinit")) config.recurrent_init = { name: params.get("rinit"), scale: null };
  if (params.has("riscale")) config.recurrent_init = { ...config.recurrent_init, scale: Number(params.get("riscale")) };
  // Empty or absent means off: no clipping, full backprop through time.
  if (params.has("clip")) config.grad_clip = Number(params.get("clip")) > 0 ? Number(params.get("clip")) : null;
  if (params.has("trunc")) config.truncate = Number.parseInt(params.get("trunc"), 10) > 0 ? Number.parseInt(params.get("trunc"), 10) : null;
  if (params.has("opt")) config.optimizer = { name: params.get("opt") };
  for (const [key, value] of params) {
    if (key.startsWith("opt.") && Number.isFinite(Number(value))) config.optimizer[key.slice(4)] = Number(value);
  }
  return config;
}

const COMPARED = "b.";
const REMOVED = "-";

/** Setup B of a recurrent comparison link (A's keys with B's `b.` keys over them), or null
 * when the link shows one setup. */
export function readRecurrentOther(search, defaults) {
  const params = new URLSearchParams(search);
  if (params.get("compare") !== "1") return null;
  const mixed = new URLSearchParams();
  for (const [key, value] of params) if (!key.startsWith(COMPARED)) mixed.set(key, value);
  for (const [key, value] of params) {
    if (!key.startsWith(COMPARED)) continue;
    if (value === REMOVED) mixed.delete(key.slice(COMPARED.length));
    else mixed.set(key.slice(COMPARED.length), value);
  }
  return readRecurrentSetup(mixed.toString(), defaults);
}

/** The query string of a recurrent config and the page's view options; with `other`, setup B
 * of a comparison as what differs from A. */
export function writeRecurrentUrl(config, view, { other = null } = {}) {
  const params = setupParams(config);
  if (other) {
    const theirs = setupParams(other);
    params.set("compare", "1");
    for (const [key, value] of theirs) if (params.get(key) !== value) params.set(COMPARED + key, value);
    for (const key of [...params.keys()]) {
      if (!key.startsWith(COMPARED) && !["model", "compare"].includes(key) && !theirs.has(key)) params.set(COMPARED + key, REMOVED);
    }
  }
  writeView(params, view);
  return params.toString().replaceAll("%3A", ":").replaceAll("%2C", ",");
}

/** A recurrent config's own keys (no view options). */
function setupParams(config) {
  const params = new URLSearchParams({ model: "recurrent" });
  // Before the server has answered, a link's config may be partial: write what it holds.
  for (const [key, path] of Object.entries(NAMES)) {
    const value = path.length === 2 ? config[path[0]]?.[path[1]] : config[path[0]];
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  for (const [key, path] of Object.entries(NUMBERS)) {
    const value = path.length === 2 ? config[path[0]]?.[path[1]] : config[path[0]];
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  if (config.head) params.set("head", config.head);
  if (config.loss) params.set("loss", config.loss);
  if (config.init) params.set("init", config.init.name);
  if (config.init?.scale !== null && config.init?.scale !== undefined) params.set("iscale", String(config.init.scale));
  if (config.recurrent_init) params.set("rinit", config.recurrent_init.name);
  if (config.recurrent_init?.scale !== null && config.recurrent_init?.scale !== undefined) params.set("riscale", String(config.recurrent_init.scale));
  if (config.grad_clip) params.set("clip", String(config.grad_clip));
  if (config.truncate) params.set("trunc", String(config.truncate));
  if (config.optimizer) params.set("opt", config.optimizer.name);
  for (const [key, value] of Object.entries(config.optimizer ?? {})) {
    if (key !== "name" && value !== null && value !== undefined) params.set(`opt.${key}`, String(value));
  }
  return params;
}
