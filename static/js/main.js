// The controller: turns user actions into server calls (through api.js) and puts the answers
// into the store, which redraws every view. Views never call the server; they emit events that
// land here. The rules (what comes next, what applies live, what a config merges to) are the
// server's: the page sends what the user did and shows what the server answers.

import { api, TrainingStream } from "./api.js";
import { normaliseCatalog } from "./catalog.js";
import { mountControls, updateControls } from "./controls.js";
import { BoundaryView } from "./boundary.js";
import { GradientFlowView } from "./gradient-flow.js";
import { LayerInspector } from "./layer-inspector.js";
import { LossChart } from "./loss-chart.js";
import { NetworkView } from "./network-view.js";
import { SPEEDS, Transport } from "./transport.js";
import { WeightInspector } from "./weight-inspector.js";
import { LossStageView } from "./loss-stage.js";
import { UpdateStageView } from "./update-stage.js";
import { mountGlossary } from "./glossary.js";
import { backwardReached } from "./stages.js";
import { adaptToData, readUrl, writeUrl } from "./url-state.js";
import { Dialogs } from "./dialogs.js";
import { createStore } from "./store.js";
import { appendHistory } from "./history-rows.js";

// Output plot resolution, and the smaller one for the ~36 px neuron thumbnails.
const BOUNDARY_GRID = 64;
const NEURON_GRID = 24;
const FIRST_RENDER = "backprop-lab:first-render";
const FIRST_LAYER = Object.freeze({ kind: "layer", layer: 0 });

// The server call behind each transport action (the stages state.next names, a whole step, a
// reset), each resolving to the session state it leaves.
const CALLS = {
  forward: (id) => api.forward(id, 1),
  loss: (id) => api.loss(id),
  backward: (id) => api.backward(id, 1),
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
  },
  { render, writeUrl: syncUrl },
);
let views;
let stream = null;
let busy = Promise.resolve();
let pending = 0;
let configTicket = 0; // the latest config change; older answers must not replace its echo

// ---------------------------------------------------------------------------- rendering

function render(state) {
  updateControls(state);
  for (const view of [views.transport, views.network, views.flow, views.boundary, views.loss]) view.update(state);
  updateInspector(state);
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.setAttribute("aria-pressed", String(button.dataset.edges === state.view.edges));
  }
  const hidden = new Set(state.view.hide);
  for (const node of document.querySelectorAll("[data-control]")) {
    node.classList.toggle("is-hidden", hidden.has(node.dataset.control));
  }
  if (state.sessionId && state.boundary && !performance.getEntriesByName(FIRST_RENDER).length) {
    performance.mark(FIRST_RENDER); // read by the benchmark: time to a fully drawn page
  }
}

function updateInspector(state) {
  const body = $("#inspector .inspector-body");
  for (const tab of document.querySelectorAll("#inspector [role=tab]")) {
    const selected = tab.dataset.tab === state.tab;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
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

function syncUrl({ config, view }) {
  const query = writeUrl(config, view);
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
      if (error.status === 404 && store.state.config) {
        // Idle sessions expire on the server: rebuild the same setup and carry on.
        showError(new Error("The session had expired; started a fresh one with the same setup."));
        return startSession(store.state.config).catch(showError);
      }
      showError(error);
      store.redraw();
    })
    .finally(() => {
      pending -= 1;
      // Settled once every queued call has been answered and drawn (tests wait on this too).
      if (pending === 0) requestAnimationFrame(() => pending === 0 && $("#app").setAttribute("aria-busy", "false"));
    });
  return busy;
}

/**
 * Fetch what the views draw (the trace, the selected weight's chain rule; the boundary, the
 * history and the data when asked) and put it in the store together with `changes`, in one
 * update, so no redraw mixes numbers from before and after a call.
 */
async function refresh(changes = {}, { boundary = false, history = false, data = false } = {}) {
  const next = { ...store.state, ...changes };
  const { sessionId: id, sample, selection, sim } = next;
  const [trace, grid, past, points, chain, update] = await Promise.all([
    api.trace(id, "summary", sample),
    boundary ? api.boundary(id, BOUNDARY_GRID, NEURON_GRID) : null,
    history ? api.history(id, 0) : null,
    data ? api.data(id) : null,
    fetchChain(id, selection, sample, sim),
    fetchUpdate(id, next),
  ]);
  if (!("sessionId" in changes) && id !== store.state.sessionId) return; // a newer session won
  // The chain is drawn with the very trace and state it was fetched with (one step's numbers).
  const loaded = { trace, ...chain, chainTrace: trace, chainSim: sim, ...update };
  if (grid) loaded.boundary = grid;
  if (past) loaded.history = past;
  if (points) loaded.data = points;
  store.set({ ...changes, ...loaded });
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

async function startSession(config) {
  const session = await api.createSession(config);
  $("#app").dataset.sessionId = session.id;
  // Start with the first layer open in the inspector: it is where gradients vanish first.
  const changes = { sessionId: session.id, config: session.config, sim: session.state, selection: FIRST_LAYER, sample: 0, tab: "selection", updateWeight: null };
  await refresh(changes, { boundary: true, history: true, data: true });
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
  if (playing && Object.keys(patch).every((key) => catalog.liveFields.has(key))) {
    // The server applies it between two frames; training carries on, nothing is rebuilt.
    sendConfig(patch)
      .then((response) => ticket === configTicket && store.set({ config: response.config }))
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
    const dataChanged = response.reset && ("dataset" in patch || "features" in patch);
    await refresh(changes, { boundary: response.reset, history: true, data: dataChanged });
    if (playing) startPlaying();
  });
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
  if (store.state.playing || !store.state.sessionId || pending > 2) return;
  serialise(async () => {
    const { sessionId: id, sim } = store.state;
    const after = await CALLS[kind === "next" ? sim.next.stage : kind](id);
    showError(null);
    const weightsChanged = after.step !== sim.step || kind === "reset";
    // The inspector follows the stage a learner steps into: the loss stage and the update
    // show what they did; forward and backward show the selected layer or weight.
    await refresh({ sim: after, tab: STAGE_TAB[after.stage] ?? "selection" }, { boundary: weightsChanged, history: weightsChanged });
  });
}

const STAGE_TAB = { loss: "loss", update: "update" };

// ---------------------------------------------------------------------------- play

function startPlaying() {
  if (store.state.playing || !store.state.sessionId) return;
  stream = new TrainingStream(store.state.sessionId, {
    onFrame: async (frame) => {
      applyFrame(frame);
      await nextPaint();
    },
    onError: (error) => showError(error),
    onLost: () => {
      stream = null;
      store.set({ playing: false });
      showError(new Error("Training stopped: the server closed the live connection. Press Play to try again."));
      serialise(() => refresh({}, { boundary: true, history: true }));
    },
  });
  stream.start(SPEEDS[store.state.view.speed]);
  store.set({ playing: true });
  // Stepping waits until this stream has finished, so REST calls never race its frames.
  const playing = stream;
  serialise(() => playing.finished);
}

function stopPlaying() {
  if (!store.state.playing) return;
  stream?.stop();
  stream = null;
  store.set({ playing: false });
}

function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function applyFrame(frame) {
  const { boundary, history, playing } = store.state;
  const changes = { sim: frame.state, trace: frame.trace, history: appendHistory(frame.reset ? null : history, frame.history) };
  if (frame.boundary) {
    // Input features never change while training: keep their grids if a frame omits them.
    const inputs = frame.boundary.inputs ?? boundary?.inputs ?? null;
    changes.boundary = { ...frame.boundary, inputs };
  }
  if (frame.playing === false && playing) {
    changes.playing = false; // the server stopped by itself (e.g. training diverged)
    stream = null;
  }
  store.set(changes);
  // Frames carry a coarse boundary; once paused, fetch a crisp one for a closer look.
  if (frame.reason === "pause") serialise(() => refresh({}, { boundary: true }));
}

function togglePlay() {
  if (store.state.playing) stopPlaying();
  else startPlaying();
}

// ---------------------------------------------------------------------------- events

function onSelect(selection) {
  // Clicking an edge while the update tab shows explains that weight's update; any other
  // click shows the selection itself.
  const tab = store.state.tab === "update" && selection.kind === "edge" ? "update" : "selection";
  const changes = { selection, tab, chain: null, chainError: null, chainTrace: null, chainSim: null };
  if (selection.kind === "edge") changes.updateWeight = selection;
  store.set(changes);
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
    dialogs: new Dialogs({
      getHidden: () => store.state.view.hide,
      onHide: (hide) => setView({ hide }),
      isUploaded: () => store.state.config.dataset.name === "csv",
    }),
  };
  mountControls($("#controls"), catalog, changeConfig, uploadCsv);
  mountGlossary(catalog.glossary ?? []);
  mountTabs();
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.addEventListener("click", () => setView({ edges: button.dataset.edges }));
  }
  document.addEventListener("keydown", onKey);
  new ResizeObserver(() => store.redraw()).observe($("#app"));
  // The top bar wraps on narrow screens and stays on top: sticky panels and scrolling into
  // view keep clear of its real height.
  new ResizeObserver(() => document.documentElement.style.setProperty("--topbar-h", `${$(".topbar").offsetHeight}px`)).observe($(".topbar"));
  window.addEventListener("pagehide", () => stream?.stop());
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

async function loadCatalog() {
  try {
    return normaliseCatalog(await api.catalog());
  } catch (error) {
    throw new Error(`Could not load the catalog from the server (${error.message}): without it the page cannot build its controls. Reload to try again.`);
  }
}

async function main() {
  $("#app").setAttribute("aria-busy", "true");
  const catalog = await loadCatalog();
  const { config, view, given } = readUrl(location.search, catalog.defaults);
  const notes = [];
  if (config.dataset.name === "csv") {
    // Uploaded rows live on the server only, never in a link: fall back to the default data.
    config.dataset.name = catalog.defaults.dataset.name;
    notes.push("This link was made with uploaded CSV data, which links cannot carry; showing the default dataset.");
  }
  // A link may name data that cannot feed its features (sine is 1-D): adapt, and say so.
  const adapted = adaptToData(config, catalog, given);
  if (adapted) notes.push(adapted);
  if (notes.length) showError(new Error(notes.join(" ")));
  mountViews(catalog);
  store.set({ catalog, config, view });
  try {
    await startSession(config);
  } catch (error) {
    // A hand-edited link may hold an invalid setup: say why, then fall back to the defaults.
    showError(new Error(`This link's setup was rejected (${error.message}); using the defaults.`));
    store.set({ config: catalog.defaults });
    await startSession(catalog.defaults);
  }
  requestAnimationFrame(() => pending === 0 && $("#app").setAttribute("aria-busy", "false"));
}

main().catch((error) => {
  showError(error);
  $("#status").textContent = "Could not reach the server";
});
