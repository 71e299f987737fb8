// The controller: owns the page state, talks to the server through api.js, and redraws every
// view from that state. Views never call the server; they emit events that land here.

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
import { readUrl, writeUrl } from "./url-state.js";
import { Dialogs } from "./dialogs.js";

// Output plot resolution, and the smaller one for the ~36 px neuron thumbnails.
const BOUNDARY_GRID = 64;
const NEURON_GRID = 24;
const FIRST_RENDER = "backprop-lab:first-render";
const MAX_LOCAL_HISTORY = 4000;

const state = {
  catalog: null,
  config: null,
  sessionId: null,
  sim: null,
  trace: null,
  traceVersion: 0,
  boundary: null,
  boundaryVersion: 0,
  data: null,
  dataVersion: 0,
  history: null,
  view: null,
  selection: null,
  sample: 0,
  chain: null,
  chainVersion: 0,
  chainError: null,
  playing: false,
};

const $ = (selector) => document.querySelector(selector);
const errorBanner = $(".error-banner");
let views;
let stream = null;
let busy = Promise.resolve();
let pending = 0;
let renderQueued = false;

// ---------------------------------------------------------------------------- rendering

function render() {
  renderQueued = false;
  updateControls(state);
  views.transport.update(state);
  views.network.update(state);
  views.flow.update(state);
  views.boundary.update(state);
  views.loss.update(state);
  updateInspector();
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.setAttribute("aria-pressed", String(button.dataset.edges === state.view.edges));
  }
  applyClassroomHiding();
  if (state.sessionId && state.boundary && !performance.getEntriesByName(FIRST_RENDER).length) {
    performance.mark(FIRST_RENDER); // read by the benchmark: time to a fully drawn page
  }
}

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function updateInspector() {
  const body = $("#inspector .inspector-body");
  const kind = state.selection?.kind ?? "none";
  if (body.dataset.kind !== kind) {
    for (const key of Object.keys(body.dataset)) delete body.dataset[key];
    body.dataset.kind = kind;
    views.layerInspector.key = "";
    views.weightInspector.key = "";
    if (kind === "none") return;
    body.replaceChildren();
  }
  if (kind === "layer") {
    views.layerInspector.root = body;
    views.layerInspector.update(state);
  } else if (kind === "edge") {
    views.weightInspector.root = body;
    views.weightInspector.update(state);
  }
}

function applyClassroomHiding() {
  const hidden = new Set(state.view.hide);
  for (const node of document.querySelectorAll("[data-control]")) {
    node.classList.toggle("is-hidden", hidden.has(node.dataset.control));
  }
}

function syncUrl() {
  const query = writeUrl(state.config, state.view);
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
      if (error.status === 404 && state.config) {
        // Idle sessions expire on the server: rebuild the same setup and carry on.
        showError(new Error("The session had expired; started a fresh one with the same setup."));
        return startSession(state.config).catch(showError);
      }
      showError(error);
      scheduleRender();
    })
    .finally(() => {
      pending -= 1;
      // Settled once every queued call has been answered and drawn (tests wait on this too).
      if (pending === 0) requestAnimationFrame(() => pending === 0 && $("#app").setAttribute("aria-busy", "false"));
    });
  return busy;
}

async function refresh({ boundary = false, history = false, data = false } = {}) {
  const id = state.sessionId;
  const jobs = [api.trace(id, "summary", state.sample)];
  jobs.push(boundary ? api.boundary(id, BOUNDARY_GRID, NEURON_GRID) : null);
  jobs.push(history ? api.history(id, 0) : null);
  jobs.push(data ? api.data(id) : null);
  const [trace, grid, past, points] = await Promise.all(jobs);
  if (id !== state.sessionId) return;
  state.trace = trace;
  state.traceVersion += 1;
  if (grid) {
    state.boundary = grid;
    state.boundaryVersion += 1;
  }
  if (past) state.history = past;
  if (points) {
    // Uploaded data has no catalog entry: its task and shape come from the data itself.
    if (points.name === "csv") state.catalog.datasetByName.csv = { ...points, train: null, test: null };
    state.data = points;
    state.dataVersion += 1;
  }
  await refreshChain();
  scheduleRender();
}

async function refreshChain() {
  if (state.selection?.kind !== "edge") {
    state.chain = null;
    return;
  }
  const { layer, i, j } = state.selection;
  try {
    state.chain = await api.chain(state.sessionId, layer, i, j, state.sample);
    state.chainVersion += 1;
    state.chainError = null;
  } catch (error) {
    state.chain = null;
    state.chainError = error.status === 409 || error.status === 422 ? error.message : null;
    if (!state.chainError) throw error;
  }
}

async function startSession(config) {
  const session = await api.createSession(config);
  state.sessionId = session.id;
  document.getElementById("app").dataset.sessionId = session.id;
  state.config = session.config;
  state.sim = session.state;
  state.history = null;
  // Start with the first layer open in the inspector: it is where gradients vanish first.
  state.selection = { kind: "layer", layer: 0 };
  state.sample = 0;
  syncUrl();
  await refresh({ boundary: true, history: true, data: true });
}

// ---------------------------------------------------------------------------- actions

function mergePatch(config, patch) {
  const merged = { ...config, ...patch };
  if (patch.dataset) merged.dataset = { ...config.dataset, ...patch.dataset };
  return merged;
}

// Changes the server applies without rebuilding the network (PATCH answers reset: false).
const HYPERPARAMETERS = new Set(["learning_rate", "batch_size", "l1", "l2", "grad_clip", "optimizer"]);

function changeConfig(patch) {
  if (state.playing && Object.keys(patch).every((key) => HYPERPARAMETERS.has(key))) {
    // Live while playing: the stream applies it between frames, training carries on.
    stream.patch(patch);
    state.config = mergePatch(state.config, patch);
    syncUrl();
    scheduleRender();
    return;
  }
  const wasPlaying = state.playing;
  if (wasPlaying) stopPlaying();
  state.sample = 0; // the batch may shrink: the focus sample must stay inside it
  serialise(async () => {
    let response;
    try {
      response = await api.patchSession(state.sessionId, patch);
    } catch (error) {
      // Rejected (e.g. a value out of range): put the controls back to what the server has.
      const session = await api.getSession(state.sessionId);
      state.config = session.config;
      syncUrl();
      throw error;
    }
    state.config = response.config;
    state.sim = response.state;
    showError(null);
    syncUrl();
    if (response.reset) {
      // A rebuilt network has new shapes: drop selections that may no longer exist.
      state.selection = { kind: "layer", layer: 0 };
      state.chain = null;
      state.history = null;
    }
    const datasetChanged = patch.dataset !== undefined || patch.features !== undefined;
    await refresh({ boundary: response.reset, history: true, data: response.reset && datasetChanged });
    if (wasPlaying) startPlaying();
  });
  // Optimistic: show the change at once, the server's answer replaces it.
  state.config = mergePatch(state.config, patch);
  scheduleRender();
}

function uploadCsv(file) {
  stopPlaying();
  serialise(async () => {
    const response = await api.uploadCsv(state.sessionId, await file.text());
    state.config = response.config;
    state.sim = response.state;
    state.selection = { kind: "layer", layer: 0 };
    state.chain = null;
    state.history = null;
    state.sample = 0;
    showError(null);
    syncUrl();
    await refresh({ boundary: true, history: true, data: true });
  });
}

function nextStageCall(sim) {
  const id = state.sessionId;
  const last = sim.n_layers - 1;
  switch (sim.stage) {
    case "forward":
      return sim.layer < last ? () => api.forward(id, 1) : () => api.loss(id);
    case "loss":
      return () => api.backward(id, 1);
    case "backward":
      return sim.layer > 0 ? () => api.backward(id, 1) : () => api.update(id);
    default:
      return () => api.forward(id, 1);
  }
}

function stageAction(kind) {
  if (kind === "reset") stopPlaying();
  // A held-down key repeats fast: drop presses beyond a short queue instead of piling up.
  if (state.playing || !state.sessionId || pending > 2) return;
  serialise(async () => {
    const id = state.sessionId;
    const sim = state.sim;
    let call;
    if (kind === "next") call = nextStageCall(sim);
    else if (kind === "forward") {
      const forwardDone = sim.stage === "forward" && sim.layer === sim.n_layers - 1;
      call = forwardDone ? () => api.loss(id) : () => api.forward(id, 1);
    } else if (kind === "backward") call = () => api.backward(id, 1);
    else if (kind === "update") call = () => api.update(id);
    else if (kind === "step") call = () => api.step(id, 1);
    else if (kind === "reset") call = () => api.reset(id);
    const before = state.sim.step;
    const response = await call();
    state.sim = response.state ?? response;
    showError(null);
    const weightsChanged = state.sim.step !== before || kind === "reset";
    if (kind === "reset") state.history = null;
    await refresh({ boundary: weightsChanged, history: weightsChanged });
  });
}

// ---------------------------------------------------------------------------- play

function startPlaying() {
  if (state.playing || !state.sessionId) return;
  state.playing = true;
  stream = new TrainingStream(state.sessionId, {
    onFrame: async (frame) => {
      applyFrame(frame);
      await nextPaint();
    },
    onError: (error) => showError(error),
    onLost: () => {
      state.playing = false;
      stream = null;
      showError(new Error("Training stopped: the server closed the live connection. Press Play to try again."));
      serialise(() => refresh({ boundary: true, history: true }));
      scheduleRender();
    },
  });
  stream.start(SPEEDS[state.view.speed]);
  // Stepping waits until this stream has finished, so REST calls never race its frames.
  const playing = stream;
  serialise(() => playing.finished);
  scheduleRender();
}

function stopPlaying() {
  if (!state.playing) return;
  state.playing = false;
  stream?.stop();
  stream = null;
  scheduleRender();
}

function nextPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function appendHistory(rows) {
  if (!rows?.step?.length) return;
  if (!state.history || rows.since === 0) {
    state.history = rows;
    return;
  }
  const merged = state.history;
  for (const key of ["step", "train_loss", "test_loss", "train_accuracy", "test_accuracy"]) {
    merged[key] = merged[key].concat(rows[key]);
  }
  for (const key of ["grad_norm", "mean_abs_dz", "update_ratio"]) {
    merged[key] = merged[key].map((series, l) => series.concat(rows[key]?.[l] ?? []));
  }
  if (merged.step.length > MAX_LOCAL_HISTORY) thinHistory(merged);
}

/** Keep every other point (and the last) so a long run stays cheap to draw. */
function thinHistory(history) {
  const keep = (series) => series.filter((_, k) => k % 2 === 0 || k === series.length - 1);
  for (const key of ["step", "train_loss", "test_loss", "train_accuracy", "test_accuracy"]) {
    history[key] = keep(history[key]);
  }
  for (const key of ["grad_norm", "mean_abs_dz", "update_ratio"]) history[key] = history[key].map(keep);
}

function applyFrame(frame) {
  if (frame.state) state.sim = frame.state;
  if (frame.reset) state.history = null;
  appendHistory(frame.history);
  if (frame.trace) {
    state.trace = frame.trace;
    state.traceVersion += 1;
  }
  if (frame.boundary) {
    // Input features never change while training: keep their grids if a frame omits them.
    if (!frame.boundary.inputs && state.boundary?.inputs) frame.boundary.inputs = state.boundary.inputs;
    state.boundary = frame.boundary;
    state.boundaryVersion += 1;
  }
  if (frame.reason === "pause" && state.sessionId) {
    // Frames carry a coarse boundary; once paused, fetch a crisp one for a closer look.
    serialise(() => refresh({ boundary: true }));
  }
  if (frame.playing === false && state.playing) {
    state.playing = false; // the server stopped by itself (e.g. training diverged)
    stream = null;
  }
  render();
}

function togglePlay() {
  if (state.playing) stopPlaying();
  else startPlaying();
}

// ---------------------------------------------------------------------------- events

function onSelect(selection) {
  state.selection = selection;
  state.chain = null;
  state.chainError = null;
  scheduleRender();
  if (selection.kind === "edge") serialise(async () => {
    await refreshChain();
    scheduleRender();
  });
}

function onSample(sample) {
  const batch = state.trace?.batch_size ?? state.sim?.batch_size ?? 1;
  state.sample = Math.max(0, Math.min(batch - 1, sample));
  serialise(() => refresh());
}

function setView(changes) {
  state.view = { ...state.view, ...changes };
  syncUrl();
  scheduleRender();
}

function onAction(action) {
  if (action === "play") togglePlay();
  else stageAction(action);
}

function onKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  const typing = target.closest?.("input, select, textarea, [contenteditable]") && target.type !== "range";
  if (typing || document.querySelector("dialog[open]")) return;
  if (event.key === " ") {
    event.preventDefault();
    togglePlay();
  } else if (event.key === "ArrowRight") {
    event.preventDefault();
    stageAction(event.shiftKey ? "step" : "next");
  } else if (event.key === "r" || event.key === "R") {
    stageAction("reset");
  } else if (event.key === "w") {
    setView({ edges: state.view.edges === "W" ? "dW" : "W" });
  } else if (event.key === "?" || event.key === "h") {
    views.dialogs.openHelp();
  }
}

// ---------------------------------------------------------------------------- start

async function main() {
  const catalog = normaliseCatalog(await api.catalog());
  state.catalog = catalog;
  const { config, view } = readUrl(location.search, catalog.defaults);
  if (config.dataset.name === "csv") {
    // Uploaded rows live on the server only, never in a link: fall back to the default data.
    config.dataset.name = catalog.defaults.dataset.name;
    showError(new Error("This link was made with uploaded CSV data, which links cannot carry; showing the default dataset."));
  }
  state.view = view;
  state.config = config;
  views = {
    transport: new Transport(document.querySelector(".topbar"), {
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
    boundary: new BoundaryView($("#output"), { onToggle: setView }),
    loss: new LossChart($("#output"), { onScale: (scale) => setView({ scale }) }),
    dialogs: new Dialogs({
      getHidden: () => state.view.hide,
      onHide: (hide) => setView({ hide }),
      isUploaded: () => state.config.dataset.name === "csv",
    }),
  };
  mountControls($("#controls"), catalog, changeConfig, uploadCsv);
  for (const button of document.querySelectorAll("[data-edges]")) {
    button.addEventListener("click", () => setView({ edges: button.dataset.edges }));
  }
  document.addEventListener("keydown", onKey);
  new ResizeObserver(scheduleRender).observe($("#app"));
  $("#app").setAttribute("aria-busy", "true");
  try {
    await startSession(config);
  } catch (error) {
    // A hand-edited link may hold an invalid setup: say why, then fall back to the defaults.
    showError(new Error(`This link's setup was rejected (${error.message}); using the defaults.`));
    state.config = catalog.defaults;
    await startSession(catalog.defaults);
  }
  window.addEventListener("pagehide", () => stream?.stop());
  requestAnimationFrame(() => pending === 0 && $("#app").setAttribute("aria-busy", "false"));
}

main().catch((error) => {
  showError(error);
  $("#status").textContent = "Could not reach the server";
});
