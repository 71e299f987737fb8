// The recurrent side of the page in one place, so the controller (main.js) only hooks it in:
// mounting the recurrent views, drawing them, and fetching what they draw for a session.

import { api } from "../api.js";
import { HeatStrip } from "./heat-strip.js";
import { appendRecurrentHistory } from "./history.js";
import { ReachView } from "./reach-view.js";
import { recurrentCatalog } from "./catalog.js";
import { ModelSwitch, RecurrentControls } from "./recurrent-controls.js";
import { TimestepInspector } from "./timestep-inspector.js";
import { UnrolledView, backwardDone } from "./unrolled-view.js";
import { SequenceView } from "./sequence-view.js";
import { RecurrentCompareView } from "./recurrent-compare.js";
import { RecurrentCompareDialog } from "./compare-dialog.js";

export { isRecurrent } from "./catalog.js";
export { appendRecurrentHistory } from "./history.js";
export { recurrentDifferences } from "./differences.js";

// Where a lesson step sends the learner's eyes, for a recurrent setup.
export const RECURRENT_HIGHLIGHTS = { network: ["#unrolled"], flow: ["#time-flow"], inspector: ["#timestep"] };
// …and in compare mode, both columns' copies.
export const RECURRENT_COMPARE_HIGHLIGHTS = { network: [".rnn-compare-unrolled"], flow: [".rnn-compare-time"], loss: [".compare-loss"], inspector: ["#timestep"] };

/** Mount the recurrent views and controls; `onTimestep(t)`, `onChange(patch)`, `latest()` (the
 * page's state now), `onModel(kind)`, `onCompare(patch)` (Compare with…), `compare`: the dense
 * compare panel's callbacks. */
export function mountRecurrent($, catalog, { onTimestep, onChange, latest, onModel, onCompare, compare }) {
  const rc = recurrentCatalog(catalog);
  return {
    compare: new RecurrentCompareView($("#compare"), { ...compare, onTimestep, rc }),
    compareDialog: rc ? new RecurrentCompareDialog($("#rnn-compare-dialog"), rc, { onCompare }) : null,
    sequences: new SequenceView($("#sequences"), rc),
    catalog: rc,
    modelSwitch: new ModelSwitch($("#model-switch"), { onModel }),
    controls: rc ? new RecurrentControls($("#recurrent-controls"), rc, { onChange, latest }) : null,
    unrolled: new UnrolledView($("#unrolled"), { onSelectTimestep: onTimestep }),
    reach: new ReachView($("#time-flow")),
    strip: new HeatStrip($("#time-flow")),
    inspector: new TimestepInspector($("#timestep"), { onSelectTimestep: onTimestep }),
  };
}

/** The timestep the inspector shows: the one chosen, else the last. */
export function shownTimestep(state) {
  const T = state.trace?.n_timesteps ?? state.sim?.n_timesteps ?? 1;
  return Math.max(0, Math.min(T - 1, state.timestep ?? T - 1));
}

export function renderRecurrent(state, views) {
  views.modelSwitch.update(state, Boolean(views.catalog));
  if (state.config?.model !== "recurrent" || state.trace?.model !== "recurrent") return;
  const shown = { ...state, timestep: shownTimestep(state) };
  views.controls?.update(shown);
  views.unrolled.update(shown);
  views.reach.update(shown);
  views.strip.update(shown);
  views.inspector.update(shown);
  views.sequences.update(shown);
}

/** The rows to draw: all of them, or (append) those after the last step already held. */
async function fetchHistory(id, held, how) {
  if (!how) return null;
  if (how === "append" && held?.step?.length) {
    return appendRecurrentHistory(held, await api.history(id, held.step[held.step.length - 1])) ?? held;
  }
  return api.history(id, 0);
}

/** What the recurrent views draw for session `id`: the trace, the history when asked, and the
 * shown timestep's terms of the weight gradients once backward has reached it. */
export async function loadRecurrent(id, state, { history = false, data = false } = {}) {
  const [trace, past, sequences] = await Promise.all([
    api.trace(id, "summary", state.sample ?? 0),
    fetchHistory(id, state.history, history),
    data ? api.data(id) : null,
  ]);
  const loaded = { trace, timestepDetail: null };
  if (past) loaded.history = past;
  if (sequences) loaded.data = sequences;
  const t = shownTimestep({ ...state, trace });
  if (backwardDone(trace.timesteps[t])) loaded.timestepDetail = { ...(await api.timestep(id, t, state.sample ?? 0)), t };
  return loaded;
}

/** A run out of focus (a lesson's other setup): its trace, and its history and data when asked. */
export async function loadRecurrentRun(run, sim, { history = false, data = false } = {}) {
  const [trace, past, sequences] = await Promise.all([
    api.trace(run.sessionId, "summary", 0),
    fetchHistory(run.sessionId, run.history, history),
    data ? api.data(run.sessionId) : null,
  ]);
  return { ...run, sim, trace, ...(past ? { history: past } : {}), ...(sequences ? { data: sequences } : {}) };
}

/** The stepping calls of a recurrent session: one timestep per press, or `how` many. */
export const recurrentCalls = {
  forward: (id, how = 1) => api.forwardTime(id, how),
  backward: (id, how = 1) => api.backwardTime(id, how),
};

// The per-timestep columns a recurrent play frame carries (app/schemas/stream.py).
const FRAME_COLUMNS = ["dh_norm", "jacobian_norm", "contribution_norm_hh"];
const FRAME_SCALARS = ["step", "stage", "stage_timestep", "loss", "reach", "contribution_share", "diverged", "n_timesteps"];

/**
 * The trace to draw from a recurrent play frame. A frame carries a summary (the scalars above
 * and, per timestep, ‖∂L/∂h_t‖, ‖J_t‖₂ and ‖C_t‖ of ∂L/∂W_hh), not the full trace. What the
 * setup fixes (cell, head, truncation, the sample shown, where BPTT is cut) is kept from the
 * last full trace `last`; every other per-timestep field (h, gates, the running product…) is
 * left empty rather than kept from an older step, so nothing on screen mixes two steps. Once
 * paused the page reads the full trace again. A full trace (not a play frame) passes through.
 */
export function recurrentFrameTrace(last, summary) {
  if (!summary || Array.isArray(summary.timesteps)) return summary;
  const T = summary.n_timesteps ?? summary.dh_norm?.length ?? 0;
  const fixed = last?.model === "recurrent" ? last : {};
  const trace = {
    model: "recurrent",
    summary: true,
    cell: fixed.cell,
    activation: fixed.activation,
    head: fixed.head,
    head_mode: fixed.head_mode,
    loss_name: fixed.loss_name,
    truncate: fixed.truncate ?? null,
    sample: fixed.sample ?? 0,
    // ‖J_t‖₂ comes with the frame; the running product only with the full trace.
    jacobians: { norm: Array.from(summary.jacobian_norm ?? []), product: [] },
    timesteps: [],
  };
  for (const key of FRAME_SCALARS) trace[key] = summary[key] ?? null;
  for (let t = 0; t < T; t += 1) {
    const step = { t, cut: fixed.timesteps?.[t]?.cut ?? t === 0, gates: {}, saturated: {}, gate_mean: {} };
    for (const key of FRAME_COLUMNS) step[key] = summary[key]?.[t] ?? null;
    trace.timesteps.push(step);
  }
  return trace;
}
