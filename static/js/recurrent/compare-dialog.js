// "Compare with…" from a recurrent setup: setup B is a copy of A with the settings changed
// here (cell, activation, hidden units, recurrent init, clipping, truncation, length, …). Only
// the fields touched change, so the comparison shows the effect of exactly those settings.
// Every choice and range comes from the catalog's recurrent part.

import { CompareDialog, choice, field, named, number } from "../compare-dialog.js";

export class RecurrentCompareDialog extends CompareDialog {
  /** `rc`: the recurrent catalog (catalog.js); `onCompare(patch)`: B = A with `patch`. */
  constructor(dialog, rc, { onCompare }) {
    super(dialog, null, { onCompare });
    this.rc = rc;
  }

  makeInputs(config) {
    const rc = this.rc;
    const task = rc.taskByName[config.dataset.name];
    return {
      cell: choice(rc.cells.map((c) => ({ value: c.name, label: c.name.toUpperCase() }))),
      activation: choice(named(rc.activations)),
      hidden: number({ min: rc.hidden.min, max: rc.hidden.max, step: 1 }),
      recurrent_init: choice(named(rc.recurrentInitializers)),
      grad_clip: number({ min: 0, step: "any", placeholder: "off" }),
      truncate: number({ min: rc.truncate.min, max: config.dataset.length, step: 1, placeholder: "full" }),
      length: number({ min: task?.length.min ?? 1, max: Math.min(task?.length.max ?? 100, rc.length.max), step: 1 }),
      learning_rate: number({ min: 0, max: 100, step: "any" }),
      seed: number({ min: 0, step: 1 }),
    };
  }

  fieldList(i) {
    const rc = this.rc;
    return [
      field("Cell", i.cell),
      field("Activation (RNN cell)", i.activation),
      field(`Hidden units (${rc.hidden.min}–${rc.hidden.max})`, i.hidden),
      field("Init W_hh (recurrent)", i.recurrent_init),
      field("Clip gradient norm at", i.grad_clip, "empty = no clipping"),
      field("Truncate BPTT after k steps", i.truncate, "empty = full"),
      field("Length T", i.length),
      field("Learning rate", i.learning_rate),
      field("Weight seed", i.seed),
    ];
  }

  fill(config) {
    const i = this.inputs;
    i.cell.value = config.cell;
    i.activation.value = config.activation;
    i.hidden.value = String(config.hidden);
    i.recurrent_init.value = config.recurrent_init.name;
    i.grad_clip.value = config.grad_clip ?? "";
    i.truncate.value = config.truncate ?? "";
    i.length.value = String(config.dataset.length);
    i.learning_rate.value = String(config.learning_rate);
    i.seed.value = String(config.seed);
  }

  /** The partial config (whole top-level fields) that turns A into B. */
  patch() {
    const i = this.inputs;
    const changed = (name) => this.changed.has(name);
    const patch = {};
    if (changed("cell")) patch.cell = i.cell.value;
    if (changed("activation")) patch.activation = i.activation.value;
    if (changed("recurrent_init")) patch.recurrent_init = { name: i.recurrent_init.value, scale: null };
    for (const name of ["hidden", "learning_rate", "seed"]) if (changed(name)) patch[name] = Number(i[name].value);
    // Empty means off: no clipping, full backprop through time.
    if (changed("grad_clip")) patch.grad_clip = i.grad_clip.value === "" || Number(i.grad_clip.value) <= 0 ? null : Number(i.grad_clip.value);
    if (changed("truncate")) patch.truncate = i.truncate.value === "" ? null : Number(i.truncate.value);
    if (changed("length")) {
      patch.dataset = { ...this.base.dataset, length: Number(i.length.value) };
      // A truncation longer than the new length would be refused: keep it within.
      const truncate = "truncate" in patch ? patch.truncate : this.base.truncate;
      if (truncate && truncate > patch.dataset.length) patch.truncate = patch.dataset.length;
    }
    return patch;
  }
}
