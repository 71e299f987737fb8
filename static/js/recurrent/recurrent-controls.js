// The model switch (dense / recurrent network) and the recurrent setup panel. Every choice and
// range comes from the catalog's `recurrent` part; changes flow up as config patches whose
// values are whole top-level fields (the whole dataset object), as the dense controls emit.

import { html, setAttrs } from "../dom.js";
import { displayName } from "../names.js";

const LEARNING_RATES = [0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];

function field(label, input, hint) {
  return html("label", { class: "field" }, html("span", { class: "field-label", text: label }), input, hint ? html("span", { class: "hint", text: hint }) : null);
}

function select(options, onChange) {
  const node = html("select");
  for (const option of options) node.append(html("option", { value: option.value, text: option.label }));
  node.addEventListener("change", () => onChange(node.value));
  return node;
}

function number(attrs, onChange) {
  const node = html("input", { type: "number", inputmode: "decimal", ...attrs });
  node.addEventListener("change", () => {
    if (!node.checkValidity()) {
      node.reportValidity();
      return;
    }
    onChange(node.value);
  });
  return node;
}

function setValue(node, value) {
  const text = value === null || value === undefined ? "" : String(value);
  if (document.activeElement === node) return;
  if (node.tagName === "SELECT" && ![...node.options].some((o) => o.value === text)) node.append(html("option", { value: text, text: displayName(text) }));
  if (node.value !== text) node.value = text;
}

/** The two-way model switch; `onModel("dense" | "recurrent")`. */
export class ModelSwitch {
  constructor(root, { onModel }) {
    this.root = root;
    this.buttons = [...root.querySelectorAll("[data-model]")];
    for (const button of this.buttons) button.addEventListener("click", () => onModel(button.dataset.model));
  }

  update(state, available) {
    // Runs every frame while playing: equal writes would restyle the switch all the same.
    if (this.root.hidden !== !available) this.root.hidden = !available;
    const model = state.config?.model === "recurrent" ? "recurrent" : "dense";
    for (const button of this.buttons) setAttrs(button, { "aria-checked": String(button.dataset.model === model) });
  }
}

export class RecurrentControls {
  constructor(root, rc, { onChange, latest }) {
    this.root = root;
    this.rc = rc;
    this.emit = onChange;
    const emit = (patch) => this.emit(patch);
    // A change builds on the config last chosen, not the one last drawn (drawn at the next
    // frame): a second change made before it must not undo the first.
    const chosen = () => latest().config;
    const dataset = (fields) => ({ dataset: { ...chosen().dataset, ...fields } });
    this.inputs = {
      task: select(rc.tasks.map((t) => ({ value: t.name, label: displayName(t.name) })), (name) => {
        const task = rc.taskByName[name];
        const length = Math.max(task.length.min, Math.min(task.length.max, chosen().dataset.length));
        emit({ ...dataset({ name, length }), head: null, loss: null });
      }),
      length: number({ step: 1, "aria-describedby": "rnn-length-hint" }, (v) => emit(dataset({ length: Number(v) }))),
      head: select([], (value) => emit({ head: value || null })),
      cell: select(rc.cells.map((c) => ({ value: c.name, label: c.name.toUpperCase() })), (cell) => {
        emit(rc.cellByName[cell]?.takesActivation ? { cell } : { cell, activation: "tanh" });
      }),
      activation: select(rc.activations.map((a) => ({ value: a.name, label: displayName(a.name) })), (activation) => emit({ activation })),
      hidden: number({ step: 1, min: rc.hidden.min, max: rc.hidden.max }, (v) => emit({ hidden: Number(v) })),
      init: select(rc.initializers.map((i) => ({ value: i.name, label: displayName(i.name) })), (name) => emit({ init: { name, scale: null } })),
      recurrentInit: select(rc.recurrentInitializers.map((i) => ({ value: i.name, label: displayName(i.name) })), (name) => emit({ recurrent_init: { name, scale: null } })),
      learningRate: select(LEARNING_RATES.map((v) => ({ value: String(v), label: String(v) })), (v) => emit({ learning_rate: Number(v) })),
      gradClip: number({ step: "any", min: rc.gradClip.min || undefined, max: rc.gradClip.max ?? undefined, placeholder: "off" }, (v) => emit({ grad_clip: v === "" ? null : Number(v) })),
      truncate: number({ step: 1, min: rc.truncate.min, placeholder: "full" }, (v) => emit({ truncate: v === "" ? null : Number(v) })),
      seed: number({ step: 1, min: 0 }, (v) => emit({ seed: Number(v) })),
    };
    const i = this.inputs;
    this.taskHint = html("span", { class: "hint", id: "rnn-task-hint" });
    this.lengthHint = html("span", { class: "hint", id: "rnn-length-hint" });
    root.replaceChildren(
      html("h2", { text: "Recurrent setup" }),
      html(
        "fieldset",
        { class: "group", "data-control": "dataset" },
        html("legend", { text: "Sequence task" }),
        field("Task", i.task),
        this.taskHint,
        field("Length T", i.length),
        this.lengthHint,
        field("Head reads", i.head),
      ),
      html(
        "fieldset",
        { class: "group", "data-control": "network" },
        html("legend", { text: "Recurrent cell" }),
        field("Cell", i.cell),
        field("Activation (RNN cell)", i.activation),
        field(`Hidden units (${rc.hidden.min}–${rc.hidden.max})`, i.hidden),
        field("Init W_xh, W_hy", i.init),
        field("Init W_hh (recurrent)", i.recurrentInit),
      ),
      html(
        "fieldset",
        { class: "group", "data-control": "training" },
        html("legend", { text: "Training" }),
        field("Learning rate", i.learningRate),
        field("Clip gradient norm at", i.gradClip, "empty = no clipping"),
        field("Truncate BPTT after k steps", i.truncate, "empty = full backprop through time"),
        field("Seed", i.seed),
      ),
    );
  }

  update(state) {
    const config = state.config;
    if (!config || config.model !== "recurrent") return;
    const i = this.inputs;
    const task = this.rc.taskByName[config.dataset.name];
    setValue(i.task, config.dataset.name);
    this.taskHint.textContent = task?.description ?? "";
    if (task) {
      i.length.min = String(task.length.min);
      i.length.max = String(Math.min(task.length.max, this.rc.length.max));
      this.lengthHint.textContent = `${i.length.min}–${i.length.max} timesteps`;
      i.truncate.max = String(config.dataset.length);
      const heads = [{ value: "", label: `task default (${task.defaultHead} step${task.defaultHead === "every" ? "" : " only"})` }, ...task.heads.map((h) => ({ value: h, label: h === "every" ? "every step" : "last step only" }))];
      if (i.head.options.length !== heads.length || [...i.head.options].some((o, k) => o.value !== heads[k].value)) {
        i.head.replaceChildren(...heads.map((h) => html("option", { value: h.value, text: h.label })));
      }
    }
    setValue(i.length, config.dataset.length);
    setValue(i.head, config.head ?? "");
    setValue(i.cell, config.cell);
    setValue(i.activation, config.activation);
    i.activation.disabled = !this.rc.cellByName[config.cell]?.takesActivation;
    setValue(i.hidden, config.hidden);
    setValue(i.init, config.init.name);
    setValue(i.recurrentInit, config.recurrent_init.name);
    setValue(i.learningRate, config.learning_rate);
    setValue(i.gradClip, config.grad_clip);
    setValue(i.truncate, config.truncate);
    setValue(i.seed, config.seed);
    this.root.setAttribute("aria-busy", String(state.configPending > 0));
  }
}
