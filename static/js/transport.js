// Transport bar and status line: the buttons emit actions; update() enables what applies now
// and writes "step 12 · backward · layer 3" into the role="status" element.

import { setAttrs, setText } from "./dom.js";
import { layerName } from "./format.js";
import { displayName } from "./names.js";
import { unchanged } from "./store.js";

/**
 * Speed presets while playing: at most steps per frame × frames per second steps a second
 * (the slow ones are teaching paces: one step at a time). The fastest asks for as many steps
 * per frame as fill a frame's time ("auto") at up to 60 frames a second: as fast as the
 * screen allows. A link keeps a preset's index, so new presets go after the old ones.
 */
export const SPEEDS = [
  { label: "1/s", stepsPerFrame: 1, fps: 1 },
  { label: "3/s", stepsPerFrame: 1, fps: 3 },
  { label: "10/s", stepsPerFrame: 1, fps: 10 },
  { label: "30/s", stepsPerFrame: 1, fps: 30 },
  { label: "100/s", stepsPerFrame: 4, fps: 25 },
  { label: "300/s", stepsPerFrame: 10, fps: 30 },
  { label: "1000/s", stepsPerFrame: 20, fps: 50 },
  { label: "max", stepsPerFrame: "auto", fps: 60 },
];

/** What a preset asks for, in words (the slider's value for screen readers, its title). */
function presetText(speed) {
  if (speed.stepsPerFrame === "auto") return `as fast as possible (up to ${speed.fps} frames a second)`;
  return `up to ${speed.stepsPerFrame * speed.fps} training steps a second`;
}

export function describeStage(sim, playing) {
  if (!sim) return "Loading…";
  let stage = sim.stage === "loss" || sim.stage === "update" ? sim.stage : "ready";
  if (sim.stage === "forward" || sim.stage === "backward") stage = `${sim.stage} · ${layerName(sim.layer, sim.n_layers)}`;
  // A recurrent network steps through time: the stage's timestep, not a layer.
  if (sim.model === "recurrent" && (sim.stage === "forward" || sim.stage === "backward")) stage = `${sim.stage} · t = ${sim.stage_timestep}`;
  let text = `step ${sim.step} · ${stage}`;
  if (playing) text += " · playing";
  if (sim.diverged) text += " · diverged";
  return text;
}

// The server names the stage the next stepping call runs (state.next); these say which button
// runs it and what to call it. The loss closes the forward pass, so the Forward button runs it.
const STAGE_BUTTON = { forward: "forward", loss: "forward", backward: "backward", update: "update" };
const STAGE_LABEL = { forward: "Forward", loss: "Loss", backward: "Backward", update: "Update" };
const FORWARD_BUTTON = {
  forward: { text: "Forward ▸", title: "Forward one layer (→ steps through every stage)" },
  loss: { text: "Loss ▸", title: "Compute the loss of this batch (→ steps through every stage)" },
};

export class Transport {
  constructor(header, { onAction, onSpeed }) {
    this.status = header.querySelector("[role=status]");
    this.nextHint = header.querySelector(".next-hint");
    this.buttons = Object.fromEntries(
      [...header.querySelectorAll(".transport [data-action]")].map((button) => [button.dataset.action, button]),
    );
    for (const button of Object.values(this.buttons)) {
      // Read at click time: the Forward button's action follows the next stage (forward or loss).
      button.addEventListener("click", () => onAction(button.dataset.action));
    }
    this.speed = header.querySelector("input[name=speed]");
    this.speedLabel = header.querySelector("output[name=speed-label]");
    // Two lines: the preset's name (paused), or the steps/s and frames/s reached (playing).
    this.rateSteps = this.speedLabel.querySelector(".rate-steps");
    this.rateFrames = this.speedLabel.querySelector(".rate-frames");
    this.speed.max = String(SPEEDS.length - 1);
    this.speed.addEventListener("input", () => onSpeed(Number(this.speed.value)));
  }

  update(state) {
    const sim = state.sim;
    setText(this.status, state.sessionId ? describeStage(sim, state.playing) : this.status.textContent);
    setAttrs(this.status, { "data-step": sim ? String(sim.step) : "", "data-stage": sim ? sim.stage : "" });
    // The buttons follow what runs next, not the step: while playing, a frame leaves them be.
    const buttons = { playing: state.playing, sessionId: state.sessionId, next: sim?.next?.stage, at: sim?.next?.timestep, model: sim?.model, config: state.config, catalog: state.catalog };
    if (!unchanged(this.buttonsDrawn, buttons)) {
      this.buttonsDrawn = buttons;
      this.drawButtons(state);
    }
    if (this.speed.value !== String(state.view.speed)) this.speed.value = String(state.view.speed);
    this.drawSpeed(state);
  }

  drawButtons(state) {
    const sim = state.sim;
    const play = this.buttons.play;
    setText(play, state.playing ? "❚❚ Pause" : "▶ Play");
    setAttrs(play, { "aria-pressed": String(state.playing) });
    const ready = Boolean(state.sessionId) && !state.playing;
    const next = sim?.next?.stage;
    const forward = this.buttons.forward;
    const forwardStage = next === "loss" ? "loss" : "forward";
    setAttrs(forward, { "data-action": forwardStage, title: FORWARD_BUTTON[forwardStage].title });
    setText(forward, FORWARD_BUTTON[forwardStage].text);
    const recurrent = sim?.model === "recurrent";
    if (recurrent && forwardStage === "forward") forward.title = "Forward one timestep, left to right (→ steps through every stage)";
    this.buttons.backward.title = recurrent ? "Backward one timestep, back through time" : "Backward one layer";
    forward.disabled = !ready || next !== forwardStage;
    this.buttons.backward.disabled = !ready || next === "update";
    this.buttons.update.disabled = !ready;
    // The rule the Update button applies is the optimiser's in use, not always SGD's.
    const optimizer = state.config?.optimizer?.name;
    const rule = optimizer ? state.catalog?.optimizerByName?.[optimizer]?.formula : null;
    if (optimizer) setAttrs(this.buttons.update, { title: `Apply the update with ${displayName(optimizer)}: ${rule ?? ""}`.trim() });
    this.buttons.step.disabled = !ready;
    this.buttons.reset.disabled = !state.sessionId;
    play.disabled = !state.sessionId;
    // Ring the button that runs the next stage, so a learner is never left facing only
    // greyed-out arrows.
    const ringed = ready && next ? STAGE_BUTTON[next] : null;
    for (const [action, button] of Object.entries(this.buttons)) button.classList.toggle("is-next", action === ringed);
    const at = recurrent && sim.next.timestep !== null && sim.next.timestep !== undefined ? ` t = ${sim.next.timestep}` : "";
    setText(this.nextHint, ringed ? `next: ${STAGE_LABEL[next]}${at} (→)` : "");
  }

  /** The preset's name, or while playing the speed reached, measured from the frames. */
  drawSpeed(state) {
    const preset = SPEEDS[state.view.speed];
    const rate = state.playing ? state.rate : null;
    setText(this.rateSteps, rate ? `${Math.round(rate.steps)} steps/s` : preset?.label ?? "");
    setText(this.rateFrames, rate ? `${Math.round(rate.frames)} frames/s` : "");
    setAttrs(this.speedLabel, { "data-measured": String(Boolean(rate)) });
    if (preset && this.speed.dataset.preset !== preset.label) {
      this.speed.dataset.preset = preset.label;
      this.speed.setAttribute("aria-valuetext", presetText(preset));
      this.speed.closest("label").title = `Training speed while playing: ${presetText(preset)}. While playing, the label shows the steps and frames per second actually reached.`;
    }
  }
}
