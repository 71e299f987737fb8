// "Compare with…": setup B as a copy of A with the settings the user changes here. Only the
// fields touched are changed; everything else (data, seeds, the rest of the network) stays A's,
// so the comparison shows the effect of exactly those settings.

import { html } from "./dom.js";
import { displayName } from "./names.js";

export function field(label, input, note) {
  return html("label", { class: "field" }, html("span", { class: "field-label", text: label }), input, note ? html("span", { class: "hint", text: note }) : null);
}

export function choice(options) {
  return html("select", {}, ...options.map(({ value, label }) => html("option", { value, text: label })));
}

export function number(attrs) {
  return html("input", { type: "number", inputmode: "decimal", ...attrs });
}

/** Catalog entries as a menu's options, with their display names. */
export const named = (list) => list.map((entry) => ({ value: entry.name, label: displayName(entry.name) }));

/** The dialog for dense setups; a kind of network with other settings (the recurrent one)
 * extends it with its own `inputs`, `fieldList`, `fill` and `patch`. */
export class CompareDialog {
  constructor(dialog, catalog, { onCompare }) {
    this.dialog = dialog;
    this.catalog = catalog;
    this.fields = dialog.querySelector(".compare-fields");
    this.summary = dialog.querySelector(".compare-changed");
    this.changed = new Set();
    // The fields exist only while the dialog is open: their labels ("Learning rate", …) must
    // not shadow the setup panel's own for anyone finding a control by its label.
    dialog.addEventListener("close", () => this.fields.replaceChildren());
    dialog.querySelector("[data-action=compare-go]").addEventListener("click", (event) => {
      event.preventDefault();
      if (!dialog.querySelector("form").reportValidity()) return;
      const patch = this.patch();
      dialog.close();
      onCompare(patch);
    });
  }

  /** The fields' inputs for A's `config`, by the config field they change. */
  makeInputs() {
    const catalog = this.catalog;
    const limits = catalog.limits;
    return {
      dataset: choice(catalog.datasets.filter((d) => d.name !== "csv").map((d) => ({ value: d.name, label: d.name }))),
      depth: number({ min: 0, max: limits.max_depth, step: 1 }),
      units: number({ min: 1, max: limits.max_width, step: 1 }),
      activation: choice(named(catalog.activations)),
      init: choice(named(catalog.initializers)),
      scale: number({ min: 0, step: "any", placeholder: "default" }),
      optimizer: choice(named(catalog.optimizers)),
      learning_rate: number({ min: 0, max: 100, step: "any" }),
      batch_size: number({ min: 1, step: 1 }),
      l2: number({ min: 0, max: 1, step: "any" }),
      seed: number({ min: 0, step: 1 }),
      data_seed: number({ min: 0, step: 1 }),
    };
  }

  /** The labelled fields, in the order shown. */
  fieldList(i) {
    return [
      field("Data", i.dataset),
      field("Hidden layers", i.depth),
      field("Units per layer", i.units, "every hidden layer"),
      field("Activation", i.activation, "every hidden layer"),
      field("Initialiser", i.init),
      field("Init scale", i.scale),
      field("Optimiser", i.optimizer),
      field("Learning rate", i.learning_rate),
      field("Batch size", i.batch_size),
      field("L2", i.l2),
      field("Weight seed", i.seed),
      field("Data seed", i.data_seed),
    ];
  }

  build(config) {
    this.inputs = this.makeInputs(config);
    this.fields.replaceChildren(...this.fieldList(this.inputs));
    this.changed.clear();
    for (const [name, input] of Object.entries(this.inputs)) {
      const mark = () => {
        this.changed.add(name);
        input.closest(".field").dataset.changed = "";
        this.say();
      };
      input.addEventListener("input", mark);
      input.addEventListener("change", mark);
    }
  }

  say() {
    const count = this.changed.size;
    this.summary.textContent = count ? `B changes ${count} setting${count === 1 ? "" : "s"} of A.` : "Change one or more settings: B is A with those changes.";
  }

  /** Open with A's config filled in. */
  open(config) {
    this.base = config;
    this.build(config);
    this.fill(config);
    this.say();
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** A's values in the fields. */
  fill(config) {
    const i = this.inputs;
    i.dataset.value = config.dataset.name;
    i.depth.value = String(config.layers.length);
    i.units.value = String(config.layers[0]?.units ?? 8);
    i.activation.value = config.layers[0]?.activation ?? "tanh";
    i.init.value = config.init.name;
    i.scale.value = config.init.scale ?? "";
    i.optimizer.value = config.optimizer.name;
    i.learning_rate.value = String(config.learning_rate);
    i.batch_size.value = String(config.batch_size);
    i.l2.value = String(config.l2);
    i.seed.value = String(config.seed);
    i.data_seed.value = String(config.dataset.seed);
  }

  /** The partial config (whole top-level fields) that turns A into B. */
  patch() {
    const base = this.base;
    const i = this.inputs;
    const changed = (name) => this.changed.has(name);
    const patch = {};
    if (changed("dataset") || changed("data_seed")) {
      patch.dataset = { ...base.dataset, name: i.dataset.value, seed: Number(i.data_seed.value) };
    }
    if (changed("depth") || changed("units") || changed("activation")) {
      const depth = changed("depth") ? Number(i.depth.value) : base.layers.length;
      const template = base.layers[0] ?? { units: 8, activation: "tanh" };
      patch.layers = Array.from({ length: depth }, (_, k) => {
        const layer = base.layers[k] ?? base.layers[base.layers.length - 1] ?? template;
        return {
          units: changed("units") ? Number(i.units.value) : layer.units,
          activation: changed("activation") ? i.activation.value : layer.activation,
        };
      });
    }
    if (changed("init") || changed("scale")) {
      const scale = i.scale.value === "" ? null : Number(i.scale.value);
      patch.init = { name: i.init.value, scale: changed("scale") ? scale : changed("init") ? null : base.init.scale };
    }
    if (changed("optimizer")) patch.optimizer = { name: i.optimizer.value };
    for (const name of ["learning_rate", "batch_size", "l2", "seed"]) {
      if (changed(name)) patch[name] = Number(i[name].value);
    }
    return patch;
  }
}
