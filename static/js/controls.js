// Setup panel: every control is built from /api/catalog; changes flow up as config patches.
//
// Emits `change(patch)` with a partial config in the API's shape whose every value is a whole
// top-level field (the whole dataset object, the whole layer list), so the page can show the
// change at once by replacing those fields until the server answers with its config. Which
// fields apply live and which rebuild the network is the server's call (catalog.live_fields).
// Every group carries data-control="…" so a classroom link can hide it (?hide=…).

import { datasetInfo, lossesForTask, optimizerDefaults } from "./catalog.js";
import { classColour, diverging } from "./palette.js";
import { clear, html } from "./dom.js";
import { datasetCaption, displayName } from "./names.js";
import { unchanged } from "./store.js";

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const THUMB = 40;
const FIXED_BY_UPLOAD = "fixed by the uploaded data";

let root;
let catalog;
let emit;
let upload;
let latest; // () => the page's state now: its config holds every change made, answered or not
let current = null; // last config drawn, to rebuild only the parts whose shape changed
const inputs = {};

function group(control, title, ...children) {
  return html("fieldset", { class: "group", "data-control": control }, html("legend", { text: title }), ...children);
}

function labelled(label, input, control, hint, modifier) {
  return html(
    "label",
    { class: modifier ? `field ${modifier}` : "field", "data-control": control },
    html("span", { class: "field-label", text: label }),
    input,
    hint ? html("span", { class: "hint", text: hint }) : null,
  );
}

function select(options, onChange, ariaLabel) {
  const node = html("select", { "aria-label": ariaLabel });
  for (const option of options) {
    node.append(html("option", { value: option.value, text: option.label }));
  }
  node.addEventListener("change", () => onChange(node.value));
  return node;
}

function numberInput({ min, max, step, ariaLabel, onChange, placeholder }) {
  const node = html("input", { type: "number", min, max, step, "aria-label": ariaLabel, placeholder, inputmode: "decimal" });
  node.addEventListener("change", () => {
    // Out-of-range values are caught here with the browser's own message, before the server.
    if (!node.checkValidity()) {
      node.reportValidity();
      return;
    }
    onChange(node.value);
  });
  return node;
}

/** − value + ; `value` is an <output>, or the given input when the value can be typed. */
function stepper(label, onMinus, onPlus, control, input = null) {
  const value = input ?? html("output", { class: "stepper-value" });
  const node = html(
    "div",
    { class: "stepper", "data-control": control, role: "group", "aria-label": input ? null : label },
    html("button", { type: "button", class: "icon", "aria-label": `Fewer ${label.toLowerCase()}`, onclick: onMinus, text: "−" }),
    value,
    html("button", { type: "button", class: "icon", "aria-label": `More ${label.toLowerCase()}`, onclick: onPlus, text: "+" }),
  );
  return { node, value };
}

/** Setting a value the user is typing into would fight them: skip the focused input. */
function setValue(node, value) {
  const text = value === null || value === undefined ? "" : String(value);
  if (document.activeElement === node) return;
  if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === text)) {
    node.append(html("option", { value: text, text: displayName(text) }));
  }
  if (node.value !== text) node.value = text;
}

function drawThumbnail(canvas, dataset) {
  const ctx = canvas.getContext("2d");
  const scale = window.devicePixelRatio || 1;
  canvas.width = THUMB * scale;
  canvas.height = THUMB * scale;
  ctx.scale(scale, scale);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, THUMB, THUMB);
  const preview = dataset.preview;
  if (!preview?.x?.length) return;
  const [xmin, xmax, ymin, ymax] = dataset.domain;
  const ys = preview.y;
  const oneD = dataset.input_dim === 1;
  const yRange = oneD ? [Math.min(...ys), Math.max(...ys)] : null;
  const regression = dataset.task === "regression";
  const yAbs = regression ? Math.max(...ys.map(Math.abs)) || 1 : 1;
  for (let k = 0; k < preview.x.length; k++) {
    const point = preview.x[k];
    const px = ((point[0] - xmin) / (xmax - xmin)) * THUMB;
    const py = oneD
      ? THUMB - ((ys[k] - yRange[0]) / (yRange[1] - yRange[0] || 1)) * (THUMB - 6) - 3
      : THUMB - ((point[1] - ymin) / (ymax - ymin)) * THUMB;
    if (oneD) ctx.fillStyle = "#444";
    else if (regression) ctx.fillStyle = diverging(ys[k] / yAbs);
    else if (dataset.n_classes > 2) ctx.fillStyle = classColour(ys[k]);
    else ctx.fillStyle = diverging(ys[k] > 0.5 ? 0.9 : -0.9);
    ctx.beginPath();
    ctx.arc(px, py, 1.6, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/**
 * The config a new change builds on: the last one chosen, not the last one drawn. The controls
 * are drawn at the next animation frame, and a second change made before it (two quick clicks)
 * must not undo the first.
 */
function chosen() {
  return latest().config;
}

/** A change to one dataset field, sent as the whole dataset object. */
function datasetChange(fields) {
  return { dataset: { ...chosen().dataset, ...fields } };
}

/**
 * Switching dataset keeps the chosen features the new data can feed (catalog: dataset.features)
 * and drops the rest; when none is left, or the new data feeds more than the old (1-D to 2-D),
 * it starts from the default features that fit.
 */
function datasetPatch(dataset) {
  const usable = dataset.features;
  const kept = chosen().features.filter((name) => usable.includes(name));
  const richer = usable.length > (datasetInfo(latest())?.features.length ?? 0);
  const fallback = catalog.defaults.features.filter((name) => usable.includes(name));
  const features = kept.length && !richer ? kept : fallback.length ? fallback : usable.slice(0, 1);
  // Leaving uploaded data: its row count (as few as 4) is no sample count for a generator.
  const samples = chosen().dataset.name === "csv" ? { n_samples: catalog.defaults.dataset.n_samples } : {};
  return { ...datasetChange({ name: dataset.name, ...samples }), loss: null, features };
}

function buildDatasetPicker() {
  const list = html("div", { class: "datasets", role: "radiogroup", "aria-label": "Dataset" });
  inputs.datasetButtons = {};
  for (const dataset of catalog.datasets) {
    const canvas = html("canvas", { class: "thumb", width: THUMB, height: THUMB, "aria-hidden": "true" });
    drawThumbnail(canvas, dataset);
    const button = html(
      "button",
      {
        type: "button",
        class: "dataset",
        role: "radio",
        "aria-checked": "false",
        title: dataset.description,
        "aria-label": dataset.name,
        "data-dataset": dataset.name,
        onclick: () => emit(datasetPatch(dataset)),
      },
      canvas,
      html("span", { text: datasetCaption(dataset.name) }),
    );
    inputs.datasetButtons[dataset.name] = button;
    list.append(button);
  }
  // Own data: a CSV with columns x1,x2,label (or x1,label; y for a regression target).
  inputs.csv = html("input", { type: "file", accept: ".csv,text/csv", "aria-label": "Upload CSV data" });
  inputs.csv.addEventListener("change", () => {
    const file = inputs.csv.files[0];
    inputs.csv.value = "";
    if (file) upload(file);
  });
  inputs.csvLabel = html("span", { text: "Upload CSV…" });
  const csv = html(
    "label",
    { class: "dataset upload", title: "Your own data: columns x1,x2,label (or x1,label; y for regression)" },
    inputs.csv,
    inputs.csvLabel,
  );
  list.append(csv);
  return list;
}

function buildDataGroup() {
  inputs.noise = html("input", { type: "range", min: 0, max: 0.5, step: 0.01, "aria-label": "Noise" });
  inputs.noise.addEventListener("change", () => emit(datasetChange({ noise: Number(inputs.noise.value) })));
  inputs.noiseValue = html("output");
  inputs.noise.addEventListener("input", () => (inputs.noiseValue.textContent = inputs.noise.value));
  inputs.split = html("input", { type: "range", min: 0.1, max: 0.9, step: 0.05, "aria-label": "Training data fraction" });
  inputs.split.addEventListener("change", () => emit(datasetChange({ train_fraction: Number(inputs.split.value) })));
  inputs.splitValue = html("output");
  inputs.split.addEventListener("input", () => (inputs.splitValue.textContent = `${Math.round(inputs.split.value * 100)}%`));
  inputs.samples = numberInput({
    min: 10,
    max: catalog.limits.max_samples,
    step: 1,
    ariaLabel: "Number of samples",
    onChange: (v) => emit(datasetChange({ n_samples: Number.parseInt(v, 10) })),
  });
  inputs.features = html("div", { class: "features", role: "group", "aria-label": "Input features" });
  inputs.featureBoxes = {};
  for (const feature of catalog.features) {
    const box = html("input", { type: "checkbox", value: feature.name });
    box.addEventListener("change", () => {
      const chosen = catalog.features.map((f) => f.name).filter((name) => inputs.featureBoxes[name].checked);
      if (chosen.length === 0) {
        box.checked = true; // a network needs at least one input
        return;
      }
      emit({ features: chosen });
    });
    inputs.featureBoxes[feature.name] = box;
    inputs.features.append(html("label", { class: "chip" }, box, html("span", { text: feature.label })));
  }
  return group(
    "data",
    "Data",
    html("div", { "data-control": "dataset" }, buildDatasetPicker()),
    html("label", { class: "field", "data-control": "noise" }, html("span", { class: "field-label", text: "Noise" }), inputs.noise, inputs.noiseValue),
    html("label", { class: "field", "data-control": "split" }, html("span", { class: "field-label", text: "Train split" }), inputs.split, inputs.splitValue),
    labelled("Samples", inputs.samples, "samples"),
    html("div", { class: "field stacked", "data-control": "features" }, html("span", { class: "field-label", text: "Features" }), inputs.features),
  );
}

function layersPatch(mutate) {
  const layers = chosen().layers.map((layer) => ({ ...layer }));
  mutate(layers);
  return { layers };
}

function buildNetworkGroup() {
  const activationOptions = catalog.activations.map((a) => ({ value: a.name, label: displayName(a.name) }));
  const depth = stepper(
    "Hidden layers",
    () => chosen().layers.length > 0 && emit(layersPatch((layers) => layers.pop())),
    () =>
      chosen().layers.length < catalog.limits.max_depth &&
      emit(
        layersPatch((layers) => {
          const last = layers[layers.length - 1] ?? { units: 4, activation: "tanh" };
          layers.push({ ...last });
        }),
      ),
    "layers",
  );
  inputs.depth = depth.value;
  inputs.allActivation = select(
    [{ value: "", label: "mixed" }, ...activationOptions],
    (name) => name && emit(layersPatch((layers) => layers.forEach((layer) => (layer.activation = name)))),
    "Activation for all layers",
  );
  inputs.layerRows = html("ol", { class: "layer-rows", "data-control": "layers" });
  inputs.activationOptions = activationOptions;
  inputs.init = select(
    catalog.initializers.map((i) => ({ value: i.name, label: displayName(i.name) })),
    (name) => emit({ init: { name, scale: null } }),
    "Weight initialiser",
  );
  inputs.initScale = numberInput({
    min: 0,
    step: "any",
    ariaLabel: "Initialiser scale",
    placeholder: "default",
    onChange: (v) => emit({ init: { name: chosen().init.name, scale: v === "" ? null : Number(v) } }),
  });
  // What the chosen initialiser draws, right under the scale: "σ = scale", "gain g = scale"
  // or "s = scale" says what the number multiplies.
  inputs.initHint = html("p", { class: "hint choice-hint", "data-hint": "init", "data-control": "init" });
  inputs.seed = numberInput({ min: 0, step: 1, ariaLabel: "Weight seed", onChange: (v) => emit({ seed: Number.parseInt(v, 10) || 0 }) });
  inputs.dataSeed = numberInput({
    min: 0,
    step: 1,
    ariaLabel: "Data seed",
    onChange: (v) => emit(datasetChange({ seed: Number.parseInt(v, 10) || 0 })),
  });
  return group(
    "network",
    "Network",
    html("div", { class: "field", "data-control": "layers" }, html("span", { class: "field-label", text: "Hidden layers" }), depth.node),
    labelled("Activation", inputs.allActivation, "activation"),
    inputs.layerRows,
    labelled("Initialiser", inputs.init, "init"),
    labelled("Init scale", inputs.initScale, "init"),
    inputs.initHint,
    html(
      "div",
      { class: "field seeds", "data-control": "seeds" },
      html("span", { class: "field-label", text: "Seeds" }),
      html("label", {}, html("span", { class: "hint", text: "weights" }), inputs.seed),
      html("label", {}, html("span", { class: "hint", text: "data" }), inputs.dataSeed),
    ),
  );
}

function buildLayerRows(config) {
  clear(inputs.layerRows);
  inputs.layerControls = config.layers.map((layer, index) => {
    // The width can be typed (16 → 2 in one go) as well as stepped with − and +.
    const typed = numberInput({
      min: 1,
      max: catalog.limits.max_width,
      step: 1,
      ariaLabel: `Neurons in layer ${index + 1}`,
      onChange: (v) => emit(layersPatch((layers) => (layers[index].units = Number.parseInt(v, 10)))),
    });
    typed.classList.add("stepper-value");
    typed.setAttribute("inputmode", "numeric");
    const units = () => chosen().layers[index].units;
    const width = stepper(
      `Neurons in layer ${index + 1}`,
      () => units() > 1 && emit(layersPatch((layers) => (layers[index].units -= 1))),
      () => units() < catalog.limits.max_width && emit(layersPatch((layers) => (layers[index].units += 1))),
      "neurons",
      typed,
    );
    const activation = select(
      inputs.activationOptions,
      (name) => emit(layersPatch((layers) => (layers[index].activation = name))),
      `Activation of layer ${index + 1}`,
    );
    inputs.layerRows.append(
      html("li", { class: "layer-row" }, html("span", { class: "layer-name", text: `L${index + 1}` }), width.node, activation),
    );
    return { units: width.value, activation };
  });
}

function buildTrainingGroup() {
  inputs.loss = select([], (name) => emit({ loss: name || null }), "Loss function");
  inputs.optimizer = select(
    catalog.optimizers.map((o) => ({ value: o.name, label: displayName(o.name) })),
    (name) => emit({ optimizer: { name, ...optimizerDefaults(catalog, name) } }),
    "Optimiser",
  );
  inputs.optimizerParams = html("div", { class: "optimizer-params", "data-control": "optimizer" });
  inputs.optimizerHint = html("p", { class: "hint choice-hint formula", "data-hint": "optimizer", "data-control": "optimizer" });
  inputs.lr = select(
    LEARNING_RATES.map((v) => ({ value: String(v), label: String(v) })),
    (v) => emit({ learning_rate: Number(v) }),
    "Learning rate",
  );
  inputs.batch = select(
    BATCH_SIZES.map((v) => ({ value: String(v), label: String(v) })),
    (v) => emit({ batch_size: Number(v) }),
    "Batch size",
  );
  inputs.l1 = numberInput({ min: 0, max: 1, step: "any", ariaLabel: "L1 regularisation", onChange: (v) => emit({ l1: Number(v) || 0 }) });
  inputs.l2 = numberInput({ min: 0, max: 1, step: "any", ariaLabel: "L2 regularisation", onChange: (v) => emit({ l2: Number(v) || 0 }) });
  inputs.clip = numberInput({
    min: 0,
    step: "any",
    ariaLabel: "Gradient clipping (max norm)",
    placeholder: "off",
    onChange: (v) => emit({ grad_clip: v === "" || Number(v) <= 0 ? null : Number(v) }),
  });
  return group(
    "training",
    "Training",
    labelled("Loss", inputs.loss, "loss", null, "stacked"), // full width: "default: Softmax cross-entropy" fits
    labelled("Optimiser", inputs.optimizer, "optimizer"),
    inputs.optimizerHint,
    inputs.optimizerParams,
    labelled("Learning rate", inputs.lr, "lr"),
    labelled("Batch size", inputs.batch, "batch"),
    html(
      "div",
      { class: "field seeds", "data-control": "regularisation" },
      html("span", { class: "field-label", text: "Regularise" }),
      html("label", {}, html("span", { class: "hint", text: "L1 (|w|)" }), inputs.l1),
      html("label", {}, html("span", { class: "hint", text: "L2 (w²)" }), inputs.l2),
    ),
    labelled("Clip ‖g‖", inputs.clip, "clip"),
  );
}

function buildOptimizerParams(config) {
  clear(inputs.optimizerParams);
  inputs.optimizerParamInputs = {};
  const defaults = optimizerDefaults(catalog, config.optimizer.name);
  for (const key of Object.keys({ ...defaults, ...config.optimizer })) {
    if (key === "name") continue;
    const input = numberInput({
      step: "any",
      ariaLabel: `Optimiser ${key}`,
      onChange: (v) => v !== "" && emit({ optimizer: { ...chosen().optimizer, [key]: Number(v) } }),
    });
    inputs.optimizerParamInputs[key] = input;
    inputs.optimizerParams.append(labelled(key, input, "optimizer"));
  }
}

function buildLossOptions(task) {
  const options = lossesForTask(catalog, task);
  clear(inputs.loss);
  const fallback = options[0] ? `default: ${displayName(options[0].name)}` : "default";
  inputs.loss.append(html("option", { value: "", text: fallback }));
  for (const loss of options) inputs.loss.append(html("option", { value: loss.name, text: displayName(loss.name) }));
}

export function mountControls(element, normalisedCatalog, onChange, onUpload, getState) {
  root = element;
  latest = getState;
  upload = onUpload;
  catalog = normalisedCatalog;
  emit = onChange;
  clear(root);
  root.append(buildDataGroup(), buildNetworkGroup(), buildTrainingGroup());
}

/** Draw the config; rebuild only rows whose count or kind changed (idempotent). */
let controlsDrawn = null; // what the controls last showed

export function updateControls(state) {
  const config = state.config;
  if (!config || !root) return;
  // Drawn again only when something they show changed (or the focus moved: a focused control
  // keeps what the user is typing, and takes the server's value once left).
  const drawn = { config, configPending: state.configPending, data: state.data, catalog: state.catalog, focus: document.activeElement };
  if (unchanged(controlsDrawn, drawn)) return;
  controlsDrawn = drawn;
  const previous = current;
  current = config;
  const currentInfo = datasetInfo(state); // what the catalog says about the data drawn
  // A change the server has not answered yet: the controls show it, the server's config follows.
  root.setAttribute("aria-busy", String(state.configPending > 0));
  for (const [name, button] of Object.entries(inputs.datasetButtons)) {
    button.setAttribute("aria-checked", String(name === config.dataset.name));
  }
  const uploaded = config.dataset.name === "csv";
  inputs.csvLabel.parentNode.classList.toggle("is-current", uploaded);
  inputs.csvLabel.textContent = uploaded ? `CSV ✓ ${(state.data?.train?.x?.length ?? 0) + (state.data?.test?.x?.length ?? 0)} rows` : "Upload CSV…";
  setValue(inputs.noise, config.dataset.noise);
  inputs.noiseValue.textContent = String(config.dataset.noise);
  setValue(inputs.split, config.dataset.train_fraction);
  inputs.splitValue.textContent = `${Math.round(config.dataset.train_fraction * 100)}%`;
  setValue(inputs.samples, config.dataset.n_samples);
  // Uploaded rows have no generator: noise and sample count mean nothing (the split still applies).
  for (const input of [inputs.noise, inputs.samples]) {
    input.disabled = uploaded;
    input.closest(".field").title = uploaded ? FIXED_BY_UPLOAD : "";
    if (uploaded) input.setAttribute("aria-description", FIXED_BY_UPLOAD);
    else input.removeAttribute("aria-description");
  }
  for (const [name, box] of Object.entries(inputs.featureBoxes)) box.checked = config.features.includes(name);
  const usable = currentInfo?.features ?? [];
  for (const feature of catalog.features) inputs.featureBoxes[feature.name].disabled = !usable.includes(feature.name);

  inputs.depth.textContent = String(config.layers.length);
  if (!previous || previous.layers.length !== config.layers.length) buildLayerRows(config);
  config.layers.forEach((layer, index) => {
    setValue(inputs.layerControls[index].units, layer.units);
    setValue(inputs.layerControls[index].activation, layer.activation);
  });
  const names = new Set(config.layers.map((l) => l.activation));
  setValue(inputs.allActivation, names.size === 1 ? [...names][0] : "");
  setValue(inputs.init, config.init.name);
  setValue(inputs.initScale, config.init.scale);
  const init = catalog.initializers.find((i) => i.name === config.init.name);
  if (init) {
    inputs.initHint.textContent = init.description;
    inputs.initScale.disabled = !init.uses_scale;
    inputs.initScale.placeholder = init.uses_scale ? `default ${init.default_scale}` : "not used";
    const scaleMeaning = init.uses_scale ? `Scale in: ${init.description}` : `${displayName(init.name)} has no scale`;
    inputs.initScale.setAttribute("aria-description", scaleMeaning);
    inputs.initScale.closest(".field").title = scaleMeaning;
  }
  setValue(inputs.seed, config.seed);
  setValue(inputs.dataSeed, config.dataset.seed);

  const task = currentInfo?.task;
  if (inputs.lossTask !== task || inputs.loss.options.length === 0) {
    inputs.lossTask = task;
    buildLossOptions(task);
  }
  setValue(inputs.loss, config.loss ?? "");
  setValue(inputs.optimizer, config.optimizer.name);
  inputs.optimizerHint.textContent = catalog.optimizerByName[config.optimizer.name]?.formula ?? "";
  if (!previous || previous.optimizer.name !== config.optimizer.name || !inputs.optimizerParamInputs) {
    buildOptimizerParams(config);
  }
  for (const [key, input] of Object.entries(inputs.optimizerParamInputs)) setValue(input, config.optimizer[key]);
  setValue(inputs.lr, config.learning_rate);
  setValue(inputs.batch, config.batch_size);
  setValue(inputs.l1, config.l1);
  setValue(inputs.l2, config.l2);
  setValue(inputs.clip, config.grad_clip);
}
