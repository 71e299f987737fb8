// The controller: turns user actions into server calls (through api.js) and puts the answers
// into the store, which redraws every view. Views never call the server; they emit events that
// land here. The rules (what comes next, what applies live, what a config merges to) are the
// server's: the page sends what the user did and shows what the server answers.
//
// Several sessions at once (a comparison, a lesson's setups) are "runs", named A to D. The
// run in focus is the page's own session (the diagram, the inspector and the setup panel show
// it; its data lives in the store's top-level fields); the others keep theirs in `runs`. One
// transport drives them all in lockstep: every action is sent to each run, and their answers
// land in the store together, so their status lines advance in the same frame.

import { api, TrainingStream } from "./api.js";
import { normaliseCatalog } from "./catalog.js";
import { mountControls, updateControls } from "./controls.js";
import { BoundaryView } from "./boundary.js";
import { GradientFlowView } from "./gradient-flow.js";
import { LayerInspector } from "./layer-inspector.js";
import { LossChart } from "./loss-chart.js";
import { NetworkView } from "./network-view.js";
import { allPainted } from "./edge-canvas.js";
import { SPEEDS, Transport } from "./transport.js";
import { WeightInspector } from "./weight-inspector.js";
import { LossStageView } from "./loss-stage.js";
import { UpdateStageView } from "./update-stage.js";
import { mountGlossary } from "./glossary.js";
import { backwardReached } from "./stages.js";
import { adaptToData, readUrl, writeUrl } from "./url-state.js";
import { callFor, groupNext } from "./lockstep.js";
import { CompareView } from "./compare-view.js";
import { CompareDialog } from "./compare-dialog.js";
import { LessonPanel } from "./lesson-panel.js";
import { configDifferences } from "./differences.js";
import { Dialogs } from "./dialogs.js";
import { createStore, unchanged } from "./store.js";
import { onSizeChange } from "./layout-cache.js";
import { setAttrs } from "./dom.js";
import { appendHistory } from "./history-rows.js";
import { fillTrimmed } from "./stream-frames.js";
import { RateMeter } from "./rate-meter.js";
import {
  RECURRENT_COMPARE_HIGHLIGHTS,
  RECURRENT_HIGHLIGHTS,
  appendRecurrentHistory,
  isRecurrent,
  loadRecurrent,
  loadRecurrentRun,
  mountRecurrent,
  recurrentCalls,
  recurrentDifferences,
  recurrentFrameTrace,
  renderRecurrent,
} from "./recurrent/recurrent-page.js";
import { linksRecurrent, readRecurrentOther, readRecurrentSetup, writeRecurrentUrl } from "./recurrent/url.js";

// Output plot resolution, and the smaller one for the ~36 px neuron thumbnails.
const BOUNDARY_GRID = 64;
const NEURON_GRID = 24;
const FIRST_RENDER = "backprop-lab:first-render";
let firstRenderAsked = false;
const FIRST_LAYER = Object.freeze({ kind: "layer", layer: 0 });
// The achieved speed shown while playing is measured over the last second and written at
// most this often (a label that changed every frame could not be read anyway).
const RATE_EVERY_MS = 500;
// While playing, the detail panels (the gradient flow and the inspector) take a new frame's
// numbers at most this often, one of them per animation frame; each names the step its
// numbers are of. The diagram, the loss chart, the output and the status line take every
// frame. Paused or stepping, every panel shows the newest numbers at once.
const DETAIL_EVERY_MS = 80;

// The server call behind each transport action (the stages state.next names, a whole step, a
// reset), each resolving to the session state it leaves.
const CALLS = {
  forward: (id, sim) => (sim?.model === "recurrent" ? recurrentCalls.forward(id) : api.forward(id, 1)),
  loss: (id) => api.loss(id),
  backward: (id, sim) => (sim?.model === "recurrent" ? recurrentCalls.backward(id) : api.backward(id, 1)),
  update: (id) => api.update(id),
  step: (id) => api.step(id, 1),
  reset: async (id) => (await api.reset(id)).state, // answers the whole session
};

const $ = (selector) => document.querySelector(selector);
const errorBanner = $(".error-banner");
const store = createStore(
  {
    catalog: null,
    config: null,
    configPending: 0, // config changes sent and not yet answered
    sessionId: null,
    sim: null, // the session state, with `next`: the stage the next stepping call runs
    trace: null,
    boundary: null,
    data: null,
    history: null,
    view: null,
    selection: null,
    tab: "selection", // what the inspector shows: the selection, the loss stage, the update
    sample: 0,
    chain: null,
    chainError: null,
    chainTrace: null, // the trace and state the chain was fetched with: one step's numbers
    chainSim: null,
    updateWeight: null, // the weight whose update the update tab explains (last edge clicked)
    updateRule: null,
    playing: false,
    rate: null, // while playing: the steps and frames per second reached ({steps, frames})
    markers: [], // settings changed during the run in focus: [{step, text}] (loss chart markers)
    runs: null, // several sessions: {A: {name, label, sessionId, config, sim, trace, …}, B: …}
    focus: "A", // the run the page's own session is
    pair: null, // the two runs compared side by side, or null
    lessons: null, // GET /api/lessons
    lesson: null, // the open lesson: {data, position (steps done), running, readings, error}
    lessonHidden: false,
    timestep: null, // recurrent: the timestep the inspector shows (null: the last)
    timestepDetail: null, // recurrent: GET /timestep/{t} of that timestep, once backward reached it
  },
  { render, writeUrl: syncUrl },
);
let views;
let chromeDrawn = null; // what drawChrome last drew from
// Per detail panel while playing: the frame's numbers it shows ({trace, sim, history}) and when
// it took them.
const detailShown = { flow: { at: -Infinity, frame: null }, inspector: { at: -Infinity, frame: null } };
let stream = null;
let busy = Promise.resolve();
let pending = 0;
let configTicket = 0; // the latest config change; older answers must not replace its echo
let comparePlay = null; // compare mode's play loop: {stopped}
const rateMeter = new RateMeter();
let rateShownAt = 0;
// Long training in a lesson goes in requests of this many steps, so both status lines advance
// together while it runs and no request passes the server's compute budget.
const LESSON_CHUNK = 250;
// Where a lesson step sends the learner's eyes: the panel, or in compare mode its two copies.
const HIGHLIGHTS = {
  network: ["#network"],
  flow: ["#flow"],
  inspector: ["#inspector"],
  loss: ["#output .loss-block"],
  boundary: ["#output .boundary-block"],
  controls: ["#controls"],
  transport: [".transport"],
};
const COMPARE_HIGHLIGHTS = { flow: [".compare-flow"], loss: [".compare-loss"], boundary: [".compare-boundary"] };

// ---------------------------------------------------------------------------- rendering

function render(state) {
  const recurrent = isRecurrent(state.config);
  const comparing = isComparing(state);
  // The layout first (what shows where): the views below size themselves to it.
  const chrome = { view: state.view, lessonHidden: state.lessonHidden, runs: state.runs, pair: state.pair, lesson: state.lesson, focus: state.focus, sessionId: state.sessionId, recurrent };
  if (!unchanged(chromeDrawn, chrome)) {
    chromeDrawn = chrome;
    drawChrome(state, comparing);
  }
  // A recurrent setup shows its own views in the dense views' places (recurrent/*.js).
  renderRecurrent(state, views.recurrent);
  if (!recurrent) updateControls(state);
  // The transport offers what the whole group runs next (its earliest stage).
  const sims = Object.values(runsOf(state)).map((run) => run.sim);
  const next = state.runs ? groupNext(sims) : null;
  views.transport.update(next && state.sim ? { ...state, sim: { ...state.sim, next } } : state);
  if (!recurrent) views.network.update(state);
  // Compare mode: the dense panel, or its recurrent kind (recurrent/recurrent-compare.js).
  (recurrent ? views.compare : views.recurrent.compare).clear();
  if (comparing) (recurrent ? views.recurrent.compare : views.compare).update(state);
  else if (recurrent) {
    views.recurrent.compare.clear();
    views.loss.update(state);
  } else {
    views.compare.clear();
    const fresh = { took: false, now: performance.now() };
    views.flow.update(detailState(state, "flow", fresh));
    views.boundary.update(state);
    views.loss.update(state);
    if (!recurrent) updateInspector(detailState(state, "inspector", fresh));
  }
  views.lesson.update(state);
  if (!recurrent && comparing) updateInspector(state);
  if (state.sessionId && state.boundary && !firstRenderAsked) {
    firstRenderAsked = true;
    // Read by the benchmark: time to a fully drawn page (the edges painted too).
    allPainted().then(() => performance.mark(FIRST_RENDER));
  }
}

/**
 * `state` as detail panel `name` draws it. While a live stream plays, its frame numbers (the
 * trace, the state and the history, which always go together) are the ones it last took until
 * DETAIL_EVERY_MS have passed, and only one panel takes new ones per animation frame (`fresh`);
 * anything else (a selection, a tab, the view) is always the newest.
 */
function detailState(state, name, fresh) {
  const shown = detailShown[name];
  const frame = { trace: state.trace, sim: state.sim, history: state.history };
  const held = shown.frame;
  const newest = !stream || !state.playing || !held || held.sim?.step > frame.sim?.step;
  if (newest || (!fresh.took && fresh.now - shown.at >= DETAIL_EVERY_MS)) {
    if (!newest && held.trace !== frame.trace) fresh.took = true;
    shown.frame = frame;
    shown.at = fresh.now;
    return state;
  }
  return { ...state, ...held };
}

/** What shows where: presenter mode, compare mode, the panels hidden by a link, the buttons'
 * pressed states, the lesson's highlight. Drawn only when one of those changed. */
function drawChrome(state, comparing) {
  const recurrent = isRecurrent(state.config);
  document.body.classList.toggle("is-presenting", state.view.present);
  $("#app").classList.toggle("is-comparing", comparing);
  $("#app").classList.toggle("no-lesson-panel", state.lessonHidden || state.view.hide.includes("lessons"));
  $("#compare").hidden = !comparing;
  document.body.classList.toggle("stage-inspector", highlighted(state) === "inspector");
  $("#app").classList.toggle("is-recurrent", recurrent);
  // Every session of the page by setup, for tests and anyone reading the page's numbers.
  $("#app").dataset.runs = Object.values(runsOf(state))
    .map((run) => `${run.name}=${run.sessionId ?? ""}`)
    .join(",");
  highlight(state, comparing);
  for (const [action, pressed] of [
    ["present", state.view.present],
    ["lessons", !state.lessonHidden],
    ["compare", comparing],
  ]) {
    $(`.topbar [data-action=${action}]`).setAttribute("aria-pressed", String(pressed));
  }
  // A recurrent setup compares through its own dialog (when the catalog has a recurrent part).
  $(".topbar [data-action=compare]").disabled = recurrent && !views.recurrent.compareDialog;
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.setAttribute("aria-pressed", String(button.dataset.edges === state.view.edges));
  }
  const hidden = new Set(state.view.hide);
  for (const node of document.querySelectorAll("[data-control]")) {
    node.classList.toggle("is-hidden", hidden.has(node.dataset.control));
  }
}

function updateInspector(state) {
  const body = $("#inspector .inspector-body");
  for (const tab of document.querySelectorAll("#inspector [role=tab]")) {
    const selected = tab.dataset.tab === state.tab;
    setAttrs(tab, { "aria-selected": String(selected), tabindex: selected ? 0 : -1 });
  }
  const kind = state.tab === "selection" ? state.selection?.kind ?? "none" : state.tab;
  if (body.dataset.kind !== kind) {
    for (const key of Object.keys(body.dataset)) delete body.dataset[key];
    body.dataset.kind = kind;
    for (const view of [views.layerInspector, views.weightInspector, views.lossStage, views.updateStage]) view.forget();
    if (kind === "none") return;
    body.replaceChildren();
  }
  if (kind === "layer") views.layerInspector.update(state);
  else if (kind === "edge") views.weightInspector.update(state);
  else if (kind === "loss") views.lossStage.update(state);
  else if (kind === "update") views.updateStage.update(state);
}

/** The weight the update tab explains: the last edge clicked, else the first weight of the
 * selected layer. */
function updateWeight(state) {
  if (state.updateWeight) return state.updateWeight;
  return { kind: "edge", layer: state.selection?.layer ?? 0, i: 0, j: 0 };
}

/** The panel the lesson's current step talks about, or null. */
function highlighted(state) {
  const lesson = state.lesson;
  const step = lesson && lesson.position > 0 ? lesson.data.steps[lesson.position - 1] : null;
  return step?.highlight ?? null;
}

/** Mark the panel the lesson's current step talks about (both copies when comparing). In
 * presenter mode the inspector takes the diagram's place while a step talks about it. */
function highlight(state, comparing) {
  const panel = highlighted(state);
  const own = isRecurrent(state.config) ? { ...HIGHLIGHTS, ...RECURRENT_HIGHLIGHTS } : HIGHLIGHTS;
  const compareOwn = isRecurrent(state.config) ? RECURRENT_COMPARE_HIGHLIGHTS : COMPARE_HIGHLIGHTS;
  const selectors = panel ? ((comparing ? compareOwn[panel] : null) ?? own[panel]) : [];
  const targets = selectors.flatMap((selector) => [...document.querySelectorAll(selector)]);
  for (const node of document.querySelectorAll(".is-highlighted")) if (!targets.includes(node)) node.classList.remove("is-highlighted");
  for (const node of targets) node.classList.add("is-highlighted");
  $("#app").dataset.highlight = panel ?? "";
}

function syncUrl(state) {
  const { config, view, lesson, pair } = state;
  let query;
  if (lesson) query = writeUrl(config, view, { lesson: lesson.data.id, pair });
  else if (isRecurrent(config) && isComparing(state)) {
    const [a, b] = pair.map((name) => runsOf(state)[name].config);
    query = writeRecurrentUrl(a, view, { other: b });
  } else if (isRecurrent(config)) query = writeRecurrentUrl(config, view);
  else if (isComparing(state)) {
    const [a, b] = pair.map((name) => runsOf(state)[name].config);
    query = writeUrl(a, view, { other: b });
  } else query = writeUrl(config, view);
  if (location.search.slice(1) !== query) history.replaceState(null, "", `${location.pathname}?${query}`);
}

function showError(error) {
  if (!error) {
    errorBanner.hidden = true;
    return;
  }
  errorBanner.textContent = error.message || String(error);
  errorBanner.hidden = false;
}

// ---------------------------------------------------------------------------- data loading

/** Run server work one action at a time, in order; keyboard repeat cannot interleave calls. */
function serialise(work) {
  pending += 1;
  $("#app").setAttribute("aria-busy", "true");
  busy = busy
    .then(work)
    .catch((error) => {
      if (error.status === 404 && store.state.config && !error.lesson) {
        // Idle sessions expire on the server: rebuild the same setups and carry on.
        showError(new Error("The session had expired; started afresh with the same setup."));
        return (store.state.runs ? restartRuns() : startSession(store.state.config)).catch(showError);
      }
      showError(error);
      store.redraw();
    })
    .finally(() => {
      pending -= 1;
      // Settled once every queued call has been answered and drawn (tests wait on this too).
      if (pending === 0) requestAnimationFrame(settled);
    });
  return busy;
}

/**
 * Fetch what the views draw (the trace, the selected weight's chain rule; the boundary, the
 * history and the data when asked) and put it in the store together with `changes`, in one
 * update, so no redraw mixes numbers from before and after a call.
 */
async function refresh(changes = {}, what = {}) {
  const loaded = await load(changes, what);
  if (loaded) store.set(loaded);
}

/** What `refresh` fetches for the session in focus, with `changes`: the store changes to
 * make, or null when a newer session has replaced this one meanwhile. `history: "append"`
 * fetches only the rows after those the store has. */
async function load(changes = {}, { boundary = false, history = false, data = false } = {}) {
  const next = { ...store.state, ...changes };
  const { sessionId: id, sample, selection, sim } = next;
  if (isRecurrent(next.config)) {
    const loaded = await loadRecurrent(id, next, { history, data });
    if (!("sessionId" in changes) && id !== store.state.sessionId) return null;
    return { ...changes, ...loaded };
  }
  const [trace, grid, past, points, chain, update] = await Promise.all([
    api.trace(id, "summary", sample),
    boundary ? api.boundary(id, BOUNDARY_GRID, NEURON_GRID) : null,
    fetchHistory(id, next.history, history),
    data ? api.data(id) : null,
    fetchChain(id, selection, sample, sim),
    fetchUpdate(id, next),
  ]);
  if (!("sessionId" in changes) && id !== store.state.sessionId) return null; // a newer session won
  // The chain is drawn with the very trace and state it was fetched with (one step's numbers).
  const loaded = { trace, ...chain, chainTrace: trace, chainSim: sim, ...update };
  if (grid) loaded.boundary = grid;
  if (past) loaded.history = past;
  if (points) loaded.data = points;
  return { ...changes, ...loaded };
}

/** The history to draw: all of it, or (append) the rows after the last step already held. */
async function fetchHistory(id, held, how) {
  if (!how) return null;
  if (how === "append" && held?.step?.length) {
    const rows = await api.history(id, held.step[(held.points ?? held.step.length) - 1]);
    return appendHistory(held, rows) ?? held;
  }
  return api.history(id, 0);
}

/** The same for a run out of focus: its trace, and the boundary, history and data if asked. */
async function loadRun(run, sim, { boundary = false, history = false, data = false } = {}) {
  const id = run.sessionId;
  if (isRecurrent(run.config)) return loadRecurrentRun(run, sim, { history, data });
  const [trace, grid, past, points] = await Promise.all([
    api.trace(id, "summary", 0),
    boundary ? api.boundary(id, BOUNDARY_GRID, NEURON_GRID) : null,
    fetchHistory(id, run.history, history),
    data ? api.data(id) : null,
  ]);
  const loaded = { ...run, sim, trace };
  if (grid) loaded.boundary = grid;
  if (past) loaded.history = past;
  if (points) loaded.data = points;
  return loaded;
}

/**
 * Load every run after a lockstep action and put them in the store in one change: `sims`
 * {name: state after the action}, `what(name)` what to fetch for each, `changes` more store
 * changes (for the run in focus). A lesson's checkpoints are read again too: they are live.
 */
async function loadAll(sims, what, changes = {}) {
  const state = { ...store.state, ...changes };
  const all = runsOf(state);
  const others = Object.values(all).filter((run) => run.name !== state.focus);
  const [main, loaded, readings] = await Promise.all([
    load({ ...changes, sim: sims[state.focus] ?? state.sim }, what(state.focus)),
    Promise.all(others.map((run) => loadRun(run, sims[run.name] ?? run.sim, what(run.name)))),
    readCheckpoints(state),
  ]);
  if (!main) return;
  if (state.runs) main.runs = { ...state.runs, ...Object.fromEntries(loaded.map((run) => [run.name, run])) };
  if (state.lesson && readings !== undefined) main.lesson = { ...(main.lesson ?? store.state.lesson), readings };
  store.set(main);
}

/** Every run by name; the one in focus with the page's own session data. Without runs, the
 * page's one session as run A. */
function runsOf(state) {
  const main = {
    name: state.focus,
    label: state.runs?.[state.focus]?.label ?? "",
    sessionId: state.sessionId,
    config: state.config,
    sim: state.sim,
    trace: state.trace,
    history: state.history,
    boundary: state.boundary,
    data: state.data,
    markers: state.markers,
  };
  if (!state.runs) return { [state.focus]: main };
  return Object.fromEntries(Object.entries(state.runs).map(([name, run]) => [name, name === state.focus ? main : run]));
}

function isComparing(state) {
  return Boolean(state.runs && state.pair);
}

/** The lesson's checkpoints at its current step, read by the server from the runs as they
 * are now (undefined when there is no lesson, null when the step has none). */
async function readCheckpoints(state) {
  const lesson = state.lesson;
  if (!lesson || lesson.position === 0) return undefined;
  const index = lesson.position - 1;
  if (!lesson.data.steps[index].checkpoints.length) return null;
  const sessions = Object.fromEntries(Object.values(runsOf(state)).map((run) => [run.name, run.sessionId]));
  try {
    return await api.checkpoints(lesson.data.id, index, sessions);
  } catch (error) {
    error.lesson = true; // not an expired session of the page's: say it, do not restart
    throw error;
  }
}

/**
 * The chain rule of the selected weight, once this step's backward pass has reached its
 * layer (before that the inspector says when it will: the server would compute a side pass
 * whose δ the learner has not reached yet).
 */
async function fetchChain(id, selection, sample, sim) {
  if (selection?.kind !== "edge" || !sim || !backwardReached(sim, selection.layer)) return { chain: null, chainError: null };
  const { layer, i, j } = selection;
  try {
    return { chain: await api.chain(id, layer, i, j, sample), chainError: null };
  } catch (error) {
    if (error.status === 409 || error.status === 422) return { chain: null, chainError: error.message };
    throw error;
  }
}

/** The update of the update tab's weight, when that tab shows (else nothing is fetched). */
async function fetchUpdate(id, state) {
  if (state.tab !== "update") return {};
  const { layer, i, j } = updateWeight(state);
  return { updateRule: await api.updateRule(id, layer, i, j) };
}

/** A new session and everything the page draws first, in one round trip (POST /start). */
async function startSession(config) {
  const session = await api.startSession(config);
  $("#app").dataset.sessionId = session.id;
  const { trace, state: sim } = session;
  // Start with the first layer open in the inspector: it is where gradients vanish first.
  const changes = { sessionId: session.id, config: session.config, sim, selection: FIRST_LAYER, sample: 0, tab: "selection", updateWeight: null, markers: [], timestep: null, timestepDetail: null };
  if (isRecurrent(session.config)) {
    // The recurrent views read their per-timestep trace and detail through their own calls.
    await refresh({ ...changes, data: session.data }, { history: true });
    return;
  }
  store.set({
    ...changes,
    trace,
    history: session.history,
    boundary: session.boundary,
    data: session.data,
    chain: null,
    chainError: null,
    chainTrace: trace,
    chainSim: sim,
  });
}

// ---------------------------------------------------------------------------- actions

/**
 * Send a config change. The controls emit whole top-level fields, so replacing those fields is
 * an exact echo of what the user chose; the server's answer (its merged config) replaces it.
 * Live fields (catalog.live_fields) apply while playing; anything else stops, rebuilds, resumes.
 */
function changeConfig(patch) {
  const { catalog, config, playing } = store.state;
  const ticket = ++configTicket;
  store.set({ config: { ...config, ...patch }, configPending: store.state.configPending + 1 });
  // A recurrent session takes its own list live (the catalog's recurrent part: + truncation).
  const live = isRecurrent(config) ? (views.recurrent.catalog?.liveFields ?? new Set()) : catalog.liveFields;
  if (playing && !comparePlay && Object.keys(patch).every((key) => live.has(key))) {
    // The server applies it between two frames; training carries on, nothing is rebuilt.
    sendConfig(patch)
      .then((response) => {
        const marker = settingMarker(config, response);
        store.set({ ...(ticket === configTicket ? { config: response.config } : {}), markers: [...store.state.markers, ...marker] });
      })
      .catch(showError);
    return;
  }
  if (playing) stopPlaying();
  serialise(async () => {
    const response = await sendConfig(patch);
    showError(null);
    // The server's config lands with the numbers computed from it, unless a newer change is
    // out (its echo stays). A rebuilt network has new shapes: drop selections that may no
    // longer exist. The batch may shrink: the focus sample goes back to the first.
    const changes = { sim: response.state, sample: 0 };
    if (ticket === configTicket) changes.config = response.config;
    if (response.reset) Object.assign(changes, { selection: FIRST_LAYER, chain: null, updateWeight: null, tab: "selection" });
    // A rebuilt network starts a new run (no markers yet); a live change is marked where it
    // took effect.
    changes.markers = response.reset ? [] : [...store.state.markers, ...settingMarker(config, response)];
    const dataChanged = response.reset && ("dataset" in patch || "features" in patch);
    const what = { boundary: response.reset, history: true, data: dataChanged };
    if (store.state.runs) {
      // Compared runs stay in step: when this one starts again from step 0, so do the others.
      const others = Object.values(runsOf(store.state)).filter((run) => run.name !== store.state.focus);
      const sims = { [store.state.focus]: response.state };
      if (response.reset) for (const run of others) sims[run.name] = (await api.reset(run.sessionId)).state;
      await loadAll(sims, (name) => (name === store.state.focus ? what : { boundary: response.reset, history: response.reset }), changes);
    } else await refresh(changes, what);
    if (playing) startPlaying();
  });
}

/** A loss-chart marker for a change that applied without rebuilding: [{step, text}] or []. */
function settingMarker(before, response) {
  if (response.reset) return [];
  const changed = (isRecurrent(before) ? recurrentDifferences : configDifferences)(before, response.config);
  if (!changed.length) return [];
  return [{ step: response.state.step, text: changed.map((d) => `${d.field} ${d.a} → ${d.b}`).join(", ") }];
}

/** PATCH the session; a rejected change puts the controls back to the server's config. */
async function sendConfig(patch) {
  const id = store.state.sessionId;
  try {
    return await api.patchSession(id, patch);
  } catch (error) {
    // Rejected (e.g. a value out of range): put the controls back to what the server has.
    if (error.status !== 404) store.set({ config: (await api.getSession(id)).config });
    throw error;
  } finally {
    store.set({ configPending: store.state.configPending - 1 });
  }
}

function uploadCsv(file) {
  stopPlaying();
  serialise(async () => {
    const response = await api.uploadCsv(store.state.sessionId, await file.text());
    showError(null);
    const changes = { config: response.config, sim: response.state, selection: FIRST_LAYER, chain: null, sample: 0, updateWeight: null, tab: "selection" };
    await refresh(changes, { boundary: true, history: true, data: true });
  });
}

/** Run a transport action: a stage ("next" = the one the server says comes next), a whole
 * step, or a reset. */
function stageAction(kind) {
  if (kind === "reset") stopPlaying();
  // A held-down key repeats fast: drop presses beyond a short queue instead of piling up.
  if (store.state.playing || !store.state.sessionId || pending > 2 || store.state.lesson?.running) return;
  serialise(async () => {
    const state = store.state;
    const all = runsOf(state);
    const action = kind === "next" ? groupNext(Object.values(all).map((run) => run.sim)).stage : kind;
    // Every run makes its call for the action (or waits: see lockstep.js), all at once.
    const after = Object.fromEntries(
      await Promise.all(
        Object.values(all).map(async (run) => {
          const call = callFor(action, run.sim);
          return [run.name, call ? await CALLS[call](run.sessionId, run.sim) : run.sim];
        }),
      ),
    );
    showError(null);
    const changed = (name) => after[name].step !== all[name].sim.step || action === "reset";
    const what = (name) => ({ boundary: changed(name), history: changed(name) });
    // The inspector follows the stage a learner steps into: the loss stage and the update
    // show what they did; forward and backward show the selected layer or weight.
    const focus = after[state.focus];
    const changes = { tab: STAGE_TAB[focus.stage] ?? "selection" };
    // A recurrent inspector follows the timestep a press has just run.
    if (focus.model === "recurrent" && (focus.stage === "forward" || focus.stage === "backward")) changes.timestep = focus.stage_timestep;
    // Back to step 0: no setting has changed in this run yet, and a lesson starts over.
    if (action === "reset") Object.assign(changes, { markers: [], ...(state.lesson ? { lesson: { ...state.lesson, position: 0, readings: null } } : {}) });
    await loadAll(after, what, changes);
  });
}

const STAGE_TAB = { loss: "loss", update: "update" };

// ---------------------------------------------------------------------------- play

function startPlaying() {
  if (store.state.playing || !store.state.sessionId || store.state.lesson?.running) return;
  if (Object.keys(store.state.runs ?? {}).length > 1) {
    startComparePlay();
    return;
  }
  stream = new TrainingStream(store.state.sessionId, {
    onFrame: applyFrame,
    onError: (error) => showError(error),
    onLost: () => {
      stream = null;
      store.set({ playing: false });
      showError(new Error("Training stopped: the server closed the live connection. Press Play to try again."));
      serialise(() => refresh({}, { boundary: true, history: true }));
    },
  });
  rateMeter.reset();
  stream.start(SPEEDS[store.state.view.speed], frameView(store.state));
  store.set({ playing: true, rate: null });
  // Stepping waits until this stream has finished, so REST calls never race its frames.
  const playing = stream;
  serialise(() => playing.finished);
}

function stopPlaying() {
  if (!store.state.playing) return;
  stream?.stop();
  stream = null;
  if (comparePlay) comparePlay.stopped = true;
  comparePlay = null;
  store.set({ playing: false, rate: null });
}

/** What the page draws of a play frame, so that frames leave out the rest: the diagram's
 * edge matrix and the inspector's layer; no focus-sample values (the weight inspector shows
 * the numbers it fetched with its chain while playing). */
function frameView(state) {
  const layer = state.selection?.layer;
  return { edges: state.view.edges === "dW" ? "dW" : "W", layer: Number.isInteger(layer) ? layer : null, sample: false };
}

/**
 * Play several runs in lockstep: each tick sends the same number of steps to every run and
 * waits for all of them before drawing, so they are always at the same step. (A live stream
 * per run could not promise that: a frame trains what fits its time budget.)
 */
function startComparePlay() {
  const token = { stopped: false };
  comparePlay = token;
  store.set({ playing: true });
  serialise(async () => {
    for (let tick = 0; !token.stopped; tick++) {
      const started = performance.now();
      const { stepsPerFrame, fps } = SPEEDS[store.state.view.speed];
      const all = Object.values(runsOf(store.state));
      const after = Object.fromEntries(await Promise.all(all.map(async (run) => [run.name, await api.step(run.sessionId, stepsPerFrame)])));
      // The boundary every fifth tick (and on the last): it is the largest answer.
      const what = () => ({ history: "append", boundary: tick % 5 === 0 || token.stopped });
      await loadAll(after, what);
      await nextPaint();
      if (Object.values(after).every((sim) => sim.diverged)) break; // nothing left to watch
      const wait = 1000 / fps - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (comparePlay === token) {
      comparePlay = null;
      store.set({ playing: false });
    }
    // Paused: a crisp boundary for every run, and the checkpoints once more.
    const sims = Object.fromEntries(Object.values(runsOf(store.state)).map((run) => [run.name, run.sim]));
    await loadAll(sims, () => ({ boundary: true }));
  });
}

function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function applyFrame(frame) {
  const { boundary, history, playing, lesson, trace } = store.state;
  const play = frame.reason === "play";
  const recurrent = isRecurrent(store.state.config);
  const append = recurrent ? appendRecurrentHistory : appendHistory;
  // A dense play frame leaves out what the page does not draw: keep the last values it was sent.
  const shown = recurrent ? recurrentFrameTrace(trace, frame.trace) : play ? fillTrimmed(trace, frame.trace) : frame.trace;
  const changes = { sim: frame.state, trace: shown, history: append(frame.reset ? null : history, frame.history) };
  if (play) {
    if (frame.reset) rateMeter.reset();
    const now = performance.now();
    rateMeter.add(now, frame.state.step);
    if (now - rateShownAt >= RATE_EVERY_MS) {
      changes.rate = rateMeter.rates();
      rateShownAt = now;
    }
  }
  if (frame.boundary) {
    // Input features never change while training: keep their grids if a frame omits them.
    const inputs = frame.boundary.inputs ?? boundary?.inputs ?? null;
    changes.boundary = { ...frame.boundary, inputs };
  }
  if (frame.playing === false && playing) {
    changes.playing = false; // the server stopped by itself (e.g. training diverged)
    changes.rate = null;
    stream = null;
  }
  store.set(changes);
  // Frames carry a coarse boundary; once paused, fetch a crisp one for a closer look (and read
  // a lesson's checkpoints again: they follow the live numbers). The history rows after the
  // last one held too: a frame the server had built when the pause stopped it never comes.
  if (frame.reason === "pause" || frame.playing === false) {
    const what = { boundary: true, history: "append" };
    serialise(() => (lesson ? loadAll({}, () => what) : refresh({}, what)));
  }
}

function togglePlay() {
  if (store.state.playing) stopPlaying();
  else startPlaying();
}

// ---------------------------------------------------------------------------- several runs

/** End sessions the page no longer shows (best effort: an expired one is already gone). */
function endSessions(ids) {
  for (const id of ids) api.deleteSession(id).catch(() => {});
}

/** Every session id of the page (the one in focus and the other runs). */
function sessionIds(state) {
  return Object.values(runsOf(state)).map((run) => run.sessionId).filter(Boolean);
}

/** The store changes that put `run` in focus: the page's own fields take its data. */
function focusChanges(run, selection = FIRST_LAYER) {
  return {
    sessionId: run.sessionId,
    config: run.config,
    sim: run.sim,
    trace: run.trace ?? null,
    history: run.history ?? null,
    boundary: run.boundary ?? null,
    data: run.data ?? null,
    markers: run.markers ?? [],
    selection,
    sample: 0,
    tab: "selection",
    chain: null,
    chainError: null,
    updateWeight: null,
  };
}

/**
 * Make a session per setup ([{name, label, config}]) and show them: the first in focus, `pair`
 * side by side (when there are two or more). `extra` joins the store change (the lesson).
 */
async function startRuns(setups, pair, extra = {}, selection = FIRST_LAYER) {
  const old = sessionIds(store.state);
  const created = await Promise.all(setups.map((setup) => api.createSession(setup.config)));
  const runs = Object.fromEntries(
    setups.map((setup, k) => [setup.name, { name: setup.name, label: setup.label, sessionId: created[k].id, config: created[k].config, sim: created[k].state, markers: [] }]),
  );
  const first = runs[setups[0].name];
  $("#app").dataset.sessionId = first.sessionId;
  const changes = { ...focusChanges(first, selection), runs, focus: first.name, pair: setups.length > 1 ? pair : null, ...extra };
  const sims = Object.fromEntries(Object.values(runs).map((run) => [run.name, run.sim]));
  await loadAll(sims, () => ({ boundary: true, history: true, data: true }), changes);
  endSessions(old);
}

/** After an expiry: the same setups again, from step 0 (a lesson from its start). */
async function restartRuns() {
  const state = store.state;
  const setups = Object.values(runsOf(state)).map((run) => ({ name: run.name, label: run.label, config: run.config }));
  const lesson = state.lesson ? { lesson: { ...state.lesson, position: 0, readings: null, running: false } } : {};
  await startRuns(setups, state.pair, lesson);
}

/** A label for setup B of a comparison: what it changes of A. */
function variantLabel(a, b) {
  const changes = (isRecurrent(a) ? recurrentDifferences : configDifferences)(a, b).map((d) => `${d.field} ${d.b}`);
  if (!changes.length) return "the same setup";
  return `with ${changes.slice(0, 3).join(", ")}${changes.length > 3 ? ", …" : ""}`;
}

/** Compare the setup (the left of a comparison, or the page's one) with a variant: B is A
 * with `patch`. Both start from step 0, on the same data and seeds unless the patch changes
 * them. */
function compareWith(patch) {
  stopPlaying();
  serialise(async () => {
    const state = store.state;
    const base = state.pair ? runsOf(state)[state.pair[0]] : runsOf(state)[state.focus];
    const config = structuredClone(base.config);
    Object.assign(config, structuredClone(patch));
    if (patch.dataset && !isRecurrent(config)) adaptToData(config, state.catalog, new Set());
    const setups = [
      { name: "A", label: "the setup", config: base.config },
      { name: "B", label: variantLabel(base.config, config), config },
    ];
    await startRuns(setups, ["A", "B"], { lesson: null });
  });
}

function endCompare() {
  stopPlaying();
  serialise(async () => {
    const state = store.state;
    const others = Object.values(runsOf(state)).filter((run) => run.name !== state.focus);
    // A lesson needs all of its setups: it closes with the comparison.
    store.set({ runs: null, pair: null, focus: "A", lesson: null });
    endSessions(others.map((run) => run.sessionId));
  });
}

/** Show run `name` in the diagram, the inspector and the setup panel. */
function focusRun(name) {
  const state = store.state;
  if (!state.runs || name === state.focus || !state.runs[name]) return;
  stopPlaying();
  serialise(async () => {
    const now = store.state;
    const all = runsOf(now);
    const runs = { ...now.runs, [now.focus]: all[now.focus] };
    const weight = now.lesson?.data.weight;
    const selection = weight ? { kind: "edge", layer: weight[0], i: weight[1], j: weight[2] } : FIRST_LAYER;
    await refresh({ ...focusChanges(all[name], selection), runs, focus: name });
  });
}

/** Show another two runs side by side; the diagram follows when its run is no longer shown. */
function setPair(pair) {
  store.set({ pair });
  if (!pair.includes(store.state.focus)) focusRun(pair[0]);
}

// ---------------------------------------------------------------------------- lessons

async function loadLessons() {
  try {
    store.set({ lessons: (await api.lessons()).lessons });
  } catch (error) {
    showError(new Error(`Could not load the lessons (${error.message}).`));
  }
}

/** Open lesson `id`: a session per setup, the first in focus, two side by side. */
function openLesson(id, pair = null) {
  stopPlaying();
  serialise(async () => {
    const data = await api.lesson(id).catch((error) => {
      error.lesson = true; // an unknown lesson, not an expired session
      throw error;
    });
    const names = data.setups.map((setup) => setup.name);
    const shown = pair && pair.every((name) => names.includes(name)) ? pair : names.slice(0, 2);
    const weight = data.weight;
    const selection = weight ? { kind: "edge", layer: weight[0], i: weight[1], j: weight[2] } : FIRST_LAYER;
    const lesson = { data, position: 0, running: false, readings: null, error: null };
    await startRuns(data.setups, shown, { lesson, lessonHidden: false }, selection);
    showError(null);
  });
}

function closeLesson() {
  store.set({ lesson: null });
}

/** One lesson step on every run at once; returns each run's state after it. Long training
 * goes in chunks, the status lines advancing together after each. */
async function runLessonStep(step, all) {
  const sims = Object.fromEntries(all.map((run) => [run.name, run.sim]));
  const each = (call) => Promise.all(all.map(async (run) => (sims[run.name] = await call(run.sessionId))));
  const layers = step.layers ?? "all";
  const model = Object.fromEntries(all.map((run) => [run.sessionId, run.config?.model]));
  // A recurrent setup's lesson step runs timesteps ("all" of them by default), not layers.
  const pass = (kind) => (id) => (model[id] === "recurrent" ? recurrentCalls[kind](id, step.timesteps ?? layers) : api[kind](id, layers));
  if (step.do === "forward") await each(pass("forward"));
  else if (step.do === "backward") await each(pass("backward"));
  else if (step.do === "loss") await each((id) => api.loss(id));
  else if (step.do === "update") await each((id) => api.update(id));
  else if (step.do === "train") {
    for (let done = 0; done < step.steps; done += LESSON_CHUNK) {
      const steps = Math.min(LESSON_CHUNK, step.steps - done);
      await each((id) => api.step(id, steps));
      showProgress(sims);
    }
  }
  return sims;
}

/** Put the runs' new states in the store (the status lines) before their data arrives. */
function showProgress(sims) {
  const state = store.state;
  const runs = state.runs && Object.fromEntries(Object.entries(state.runs).map(([name, run]) => [name, { ...run, sim: sims[name] ?? run.sim }]));
  store.set({ sim: sims[state.focus] ?? state.sim, ...(runs ? { runs } : {}) });
}

/** Next (+1) or previous (−1) lesson step. Going back replays the lesson from step 0 up to
 * the step before: the same configs and seeds give the very same numbers. */
function lessonMove(delta) {
  const lesson = store.state.lesson;
  if (!lesson || lesson.running) return;
  const target = lesson.position + delta;
  if (target < 0 || target > lesson.data.steps.length) return;
  stopPlaying();
  store.set({ lesson: { ...lesson, running: true, error: null } });
  serialise(async () => {
    const all = Object.values(runsOf(store.state));
    let sims;
    try {
      if (delta > 0) sims = await runLessonStep(lesson.data.steps[target - 1], all);
      else {
        sims = Object.fromEntries(await Promise.all(all.map(async (run) => [run.name, (await api.reset(run.sessionId)).state])));
        const fresh = all.map((run) => ({ ...run, sim: sims[run.name] }));
        for (const step of lesson.data.steps.slice(0, target)) Object.assign(sims, await runLessonStep(step, fresh.map((run) => ({ ...run, sim: sims[run.name] }))));
      }
    } catch (error) {
      store.set({ lesson: { ...store.state.lesson, running: false, error: error.message } });
      throw error;
    }
    const done = { ...lesson, position: target, running: false, readings: null, error: null };
    // A staged step opens its stage in the inspector, as the transport does; training does not.
    const staged = ["forward", "loss", "backward", "update"].includes(lesson.data.steps[target - 1]?.do);
    const tab = (staged && STAGE_TAB[sims[store.state.focus].stage]) || "selection";
    const what = () => ({ boundary: true, history: true });
    await loadAll(sims, what, { lesson: done, tab, ...(delta < 0 ? { markers: [] } : {}) });
  });
}

function toggleLessons() {
  const hidden = !store.state.lessonHidden;
  store.set({ lessonHidden: hidden });
  if (!hidden) requestAnimationFrame(() => $("#lesson").scrollIntoView({ block: "nearest" }));
}

function togglePresenter() {
  setView({ present: !store.state.view.present });
}

// ---------------------------------------------------------------------------- recurrent

/** Show timestep t in the recurrent inspector (its gradient terms once backward reached it). */
function selectTimestep(t) {
  const T = store.state.trace?.n_timesteps ?? 1;
  const timestep = Math.max(0, Math.min(T - 1, Math.round(t)));
  if (timestep === store.state.timestep) return;
  store.set({ timestep });
  serialise(() => refresh({ timestep }));
}

/** Dense or recurrent network: a new session with the server's defaults for that model. */
function switchModel(model) {
  const state = store.state;
  if ((model === "recurrent") === isRecurrent(state.config)) return;
  const config = model === "recurrent" ? state.catalog.recurrent?.defaults : state.catalog.defaults;
  if (!config) return;
  stopPlaying();
  serialise(async () => {
    const old = sessionIds(store.state);
    store.set({ runs: null, pair: null, focus: "A", lesson: null, history: null, trace: null });
    await startSession(structuredClone(config));
    endSessions(old);
    showError(null);
  });
}

// ---------------------------------------------------------------------------- events

function onSelect(selection) {
  // Clicking an edge while the update tab shows explains that weight's update; any other
  // click shows the selection itself.
  const tab = store.state.tab === "update" && selection.kind === "edge" ? "update" : "selection";
  const changes = { selection, tab, chain: null, chainError: null, chainTrace: null, chainSim: null };
  if (selection.kind === "edge") changes.updateWeight = selection;
  store.set(changes);
  stream?.setView(frameView(store.state));
  bringInspectorIntoView();
  if (selection.kind !== "edge") return;
  serialise(async () => {
    const state = store.state;
    const [chain, update] = await Promise.all([
      fetchChain(state.sessionId, selection, state.sample, state.sim),
      fetchUpdate(state.sessionId, state),
    ]);
    if (store.state.selection === selection) store.set({ ...chain, chainTrace: state.trace, chainSim: state.sim, ...update });
  });
}

function onTab(tab) {
  if (tab === store.state.tab) return;
  store.set({ tab });
  if (tab === "update") serialise(async () => store.set(await fetchUpdate(store.state.sessionId, store.state)));
}

/** On a narrow screen the inspector sits below the diagram: scroll it into view when a
 * click opens something in it (on a desktop it is already on screen and nothing moves). */
function bringInspectorIntoView() {
  const panel = $("#inspector");
  const box = panel.getBoundingClientRect();
  const top = $(".topbar").getBoundingClientRect().bottom;
  const visible = box.top >= Math.max(0, top) && box.top + Math.min(box.height, 200) <= window.innerHeight;
  if (!visible) requestAnimationFrame(() => panel.scrollIntoView({ block: "start", behavior: "auto" }));
}

function onSample(sample) {
  const batch = store.state.trace?.batch_size ?? 1;
  serialise(() => refresh({ sample: Math.max(0, Math.min(batch - 1, sample)) }));
}

function setView(changes) {
  store.set({ view: { ...store.state.view, ...changes } });
  stream?.setView(frameView(store.state));
}

function onAction(action) {
  if (action === "play") togglePlay();
  else stageAction(action);
}

// Controls that answer Space themselves (press, check, choose): Space is theirs, not Play's.
const OWNS_SPACE = "button, a[href], input, select, textarea, summary, [contenteditable], [role=button], [role=tab], [role=radio], [role=checkbox]";

function onKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const typing = target.closest?.("input, select, textarea, [contenteditable]");
  if (typing || document.querySelector("dialog[open]")) return;
  if (event.key === " ") {
    if (target.closest?.(OWNS_SPACE)) return;
    event.preventDefault();
    togglePlay();
  } else if (event.key === "ArrowRight") {
    event.preventDefault();
    stageAction(event.shiftKey ? "step" : "next");
  } else if (event.key === "r" || event.key === "R") {
    stageAction("reset");
  } else if (event.key === "w") {
    setView({ edges: store.state.view.edges === "W" ? "dW" : "W" });
  } else if (event.key === "?" || event.key === "h") {
    views.dialogs.openHelp();
  } else if (event.key === "PageDown" || event.key === "n") {
    // Presentation clickers send PageDown and PageUp.
    if (!store.state.lesson) return;
    event.preventDefault();
    lessonMove(1);
  } else if (event.key === "PageUp") {
    if (!store.state.lesson) return;
    event.preventDefault();
    lessonMove(-1);
  } else if (event.key === "p") {
    togglePresenter();
  } else if (event.key === "l") {
    toggleLessons();
  } else if (event.key === "Escape" && store.state.view.present) {
    togglePresenter();
  }
}

// ---------------------------------------------------------------------------- start

function mountViews(catalog) {
  views = {
    transport: new Transport($(".topbar"), {
      onAction,
      onSpeed: (speed) => {
        setView({ speed });
        stream?.setSpeed(SPEEDS[speed]);
      },
    }),
    network: new NetworkView($("#network"), { onSelect }),
    flow: new GradientFlowView($("#flow")),
    layerInspector: new LayerInspector($("#inspector .inspector-body")),
    weightInspector: new WeightInspector($("#inspector .inspector-body"), { onSample }),
    lossStage: new LossStageView($("#inspector .inspector-body"), { onSample }),
    updateStage: new UpdateStageView($("#inspector .inspector-body")),
    boundary: new BoundaryView($("#output"), { onToggle: setView }),
    loss: new LossChart($("#output"), { onScale: (scale) => setView({ scale }) }),
    compare: new CompareView($("#compare"), {
      runsOf,
      onFocus: focusRun,
      onEnd: endCompare,
      onPair: setPair,
      onScale: (scale) => setView({ scale }),
    }),
    lesson: new LessonPanel($("#lesson"), { onOpen: (id) => openLesson(id), onMove: lessonMove, onClose: closeLesson, onHide: toggleLessons }),
    compareDialog: new CompareDialog($("#compare-dialog"), catalog, { onCompare: compareWith }),
    dialogs: new Dialogs({
      getHidden: () => store.state.view.hide,
      onHide: (hide) => setView({ hide }),
      isUploaded: () => store.state.config.dataset.name === "csv",
    }),
  };
  const latest = () => store.state; // what a change builds on (the controls draw a frame later)
  mountControls($("#controls"), catalog, changeConfig, uploadCsv, latest);
  views.recurrent = mountRecurrent($, catalog, {
    onTimestep: selectTimestep,
    onChange: changeConfig,
    latest,
    onModel: switchModel,
    onCompare: compareWith,
    compare: { runsOf, onFocus: focusRun, onEnd: endCompare, onPair: setPair, onScale: (scale) => setView({ scale }) },
  });
  mountGlossary(catalog.glossary ?? []);
  mountTabs();
  $(".topbar [data-action=lessons]").addEventListener("click", toggleLessons);
  $(".topbar [data-action=present]").addEventListener("click", togglePresenter);
  $(".topbar [data-action=compare]").addEventListener("click", () => {
    const state = store.state;
    const base = state.pair ? runsOf(state)[state.pair[0]] : runsOf(state)[state.focus];
    (isRecurrent(base.config) ? views.recurrent.compareDialog : views.compareDialog).open(base.config);
  });
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.addEventListener("click", () => setView({ edges: button.dataset.edges }));
  }
  document.addEventListener("keydown", onKey);
  new ResizeObserver(() => store.redraw()).observe($("#app"));
  onSizeChange(() => store.redraw()); // a panel a view draws into changed size
  // The top bar wraps on narrow screens and stays on top: sticky panels and scrolling into
  // view keep clear of its real height.
  new ResizeObserver(() => document.documentElement.style.setProperty("--topbar-h", `${$(".topbar").offsetHeight}px`)).observe($(".topbar"));
  window.addEventListener("pagehide", (event) => {
    stream?.stop();
    if (comparePlay) comparePlay.stopped = true;
    // Leaving for good (not into the back-forward cache): end this page's sessions now rather
    // than at their expiry, so reloads and lessons do not pile up a class's session quota.
    if (!event.persisted) for (const id of sessionIds(store.state)) api.deleteSession(id, true).catch(() => {});
  });
}

/** The inspector's tabs: click, or ←/→ between them (the ARIA tabs pattern). */
function mountTabs() {
  const tabs = [...document.querySelectorAll("#inspector [role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => onTab(tab.dataset.tab));
    // A click does not take the focus, so → keeps stepping for a mouse user; a keyboard user
    // Tabs onto the tabs, where ←/→ move between them.
    tab.addEventListener("mousedown", (event) => event.preventDefault());
    tab.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      event.preventDefault(); // ← and → move between tabs here, not through training stages
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      onTab(next.dataset.tab);
    });
  }
}

/** The catalog the page was served with (a JSON block in its HTML), or null. */
function embeddedCatalog() {
  const block = document.getElementById("catalog");
  if (!block) return null;
  try {
    return JSON.parse(block.textContent);
  } catch {
    return null;
  }
}

async function loadCatalog() {
  const embedded = embeddedCatalog();
  if (embedded) return normaliseCatalog(embedded);
  try {
    return normaliseCatalog(await api.catalog());
  } catch (error) {
    throw new Error(`Could not load the catalog from the server (${error.message}): without it the page cannot build its controls. Reload to try again.`);
  }
}

async function main() {
  $("#app").setAttribute("aria-busy", "true");
  const catalog = await loadCatalog();
  const { config: linked, view, given, other, lesson, pair } = readUrl(location.search, catalog.defaults);
  const recurrentDefaults = catalog.recurrent?.defaults;
  // Without the catalog's recurrent defaults the server fills what the link leaves out.
  const config = linksRecurrent(location.search) ? readRecurrentSetup(location.search, recurrentDefaults ?? { model: "recurrent" }) : linked;
  const otherRecurrent = linksRecurrent(location.search) ? readRecurrentOther(location.search, recurrentDefaults ?? { model: "recurrent" }) : null;
  const notes = [];
  if (!isRecurrent(config) && config.dataset.name === "csv") {
    // Uploaded rows live on the server only, never in a link: fall back to the default data.
    config.dataset.name = catalog.defaults.dataset.name;
    notes.push("This link was made with uploaded CSV data, which links cannot carry; showing the default dataset.");
  }
  // A link may name data that cannot feed its features (sine is 1-D): adapt, and say so.
  const adapted = isRecurrent(config) ? null : adaptToData(config, catalog, given);
  if (adapted) notes.push(adapted);
  if (notes.length) showError(new Error(notes.join(" ")));
  mountViews(catalog);
  store.set({ catalog, config, view });
  loadLessons();
  try {
    if (lesson) {
      openLesson(lesson, pair);
      await busy;
      if (!store.state.lesson) throw new Error(`no lesson "${lesson}" could be opened`);
    } else if (otherRecurrent) {
      const setups = [
        { name: "A", label: "the setup", config },
        { name: "B", label: variantLabel(config, otherRecurrent), config: otherRecurrent },
      ];
      await startRuns(setups, ["A", "B"]);
    } else if (other && !isRecurrent(config)) {
      adaptToData(other.config, catalog, other.given);
      const setups = [
        { name: "A", label: "the setup", config },
        { name: "B", label: variantLabel(config, other.config), config: other.config },
      ];
      await startRuns(setups, ["A", "B"]);
    } else await startSession(config);
  } catch (error) {
    // A hand-edited link may hold an invalid setup: say why, then fall back to the defaults.
    showError(new Error(`This link's setup was rejected (${error.message}); using the defaults.`));
    store.set({ config: catalog.defaults });
    await startSession(catalog.defaults);
  }
  requestAnimationFrame(settled);
}

/** After a redraw: not busy once no call is pending and the edge canvas shows the last frame. */
function settled() {
  if (pending === 0) allPainted().then(() => pending === 0 && $("#app").setAttribute("aria-busy", "false"));
}

main().catch((error) => {
  showError(error);
  $("#status").textContent = "Could not reach the server";
});
