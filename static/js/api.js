// The only module that talks to the server: JSON over fetch, training frames over a WebSocket.

import { decodeFrame } from "./stream-frames.js";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

async function request(method, path, body, options = {}) {
  const init = { method, headers: { Accept: "application/json" }, ...options };
  if (typeof body === "string") {
    init.headers["Content-Type"] = "text/csv"; // the only raw-text upload: a CSV dataset
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (method === "POST") {
    // Said even without a body: the server refuses other POSTs, so that pages of other
    // sites cannot make a visitor's browser post here.
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, describeError(payload, response));
  return payload;
}

// FastAPI answers validation errors as {detail: [{loc, msg}, ...]}; others as {detail: "…"}.
function describeError(payload, response) {
  const detail = payload?.detail ?? payload?.message ?? response.statusText;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => [(d.loc || []).filter((p) => p !== "body").join("."), d.msg].filter(Boolean).join(": "))
      .join("; ");
  }
  return detail;
}

// No frame for this long while playing means the server's training loop has stopped.
const STALL_MS = 4000;
// Play frames the server may send before the page has acknowledged them: 2 lets it compute
// the next frame while the page draws this one (never more in flight).
const WINDOW = 2;

const session = (id) => `/api/sessions/${encodeURIComponent(id)}`;
const query = (params) =>
  new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null),
  ).toString();

export const api = {
  catalog: () => request("GET", "/api/catalog"),
  createSession: (config) => request("POST", "/api/sessions", config),
  /** A new session with everything the page draws first (trace, history, boundary, data). */
  startSession: (config) => request("POST", "/api/sessions/start", config),
  getSession: (id) => request("GET", session(id)),
  patchSession: (id, partial) => request("PATCH", session(id), partial),
  /** `keepalive`: still sent while the page unloads. */
  deleteSession: (id, keepalive = false) => request("DELETE", session(id), undefined, { keepalive }),
  reset: (id) => request("POST", `${session(id)}/reset`),
  forward: (id, layers = 1) => request("POST", `${session(id)}/forward`, { layers }),
  loss: (id) => request("POST", `${session(id)}/loss`),
  backward: (id, layers = 1) => request("POST", `${session(id)}/backward`, { layers }),
  update: (id) => request("POST", `${session(id)}/update`),
  step: (id, steps = 1) => request("POST", `${session(id)}/step`, { steps }),
  trace: (id, detail = "summary", sample = 0) =>
    request("GET", `${session(id)}/trace?${query({ detail, sample })}`),
  history: (id, since = 0) => request("GET", `${session(id)}/history?${query({ since })}`),
  boundary: (id, grid, hiddenGrid) =>
    request("GET", `${session(id)}/boundary?${query({ grid, hidden_grid: hiddenGrid })}`),
  data: (id) => request("GET", `${session(id)}/data`),
  uploadCsv: (id, text) => request("POST", `${session(id)}/dataset`, text),
  chain: (id, layer, i, j, sample) =>
    request("GET", `${session(id)}/chain?${query({ layer, i, j, sample })}`),
  updateRule: (id, layer, i, j) =>
    request("GET", `${session(id)}/update-rule?${query({ layer, i, j })}`),
  // Recurrent sessions step through time: forward/backward run `timesteps` (a count or "all").
  forwardTime: (id, timesteps = 1) => request("POST", `${session(id)}/forward`, { timesteps }),
  backwardTime: (id, timesteps = 1) => request("POST", `${session(id)}/backward`, { timesteps }),
  timestep: (id, t, sample = 0) => request("GET", `${session(id)}/timestep/${encodeURIComponent(t)}?${query({ sample })}`),
  lessons: () => request("GET", "/api/lessons"),
  lesson: (id) => request("GET", `/api/lessons/${encodeURIComponent(id)}`),
  /** Lesson step `step`'s checkpoints, read by the server from the sessions {A: id, B: id…}. */
  checkpoints: (id, step, sessions) =>
    request("GET", `/api/lessons/${encodeURIComponent(id)}/checkpoints?${query({ step, ...sessions })}`),
};

/**
 * Live training over the session's WebSocket, in binary frames (see stream-frames.js).
 *
 * Backpressure with a window of two: the server may have at most two frames out that the
 * page has not acknowledged, so it computes frame n+1 while the page draws frame n, and a
 * page that draws slowly slows training down instead of queueing frames. `onFrame` puts a
 * frame into the store (synchronously, in arrival order); the page acknowledges a play frame
 * once the animation frame that draws it has run.
 */
export class TrainingStream {
  constructor(id, { onFrame, onError, onLost }) {
    this.id = id;
    this.onFrame = onFrame;
    this.onError = onError;
    this.onLost = onLost;
    this.socket = null;
    this.playing = false;
    this.finished = null;
    this.speed = null;
    this.view = null;
  }

  /**
   * Start playing: `stepsPerFrame` training steps per frame (or "auto": as many as fill the
   * frame's time), at most `fps` frames a second; `view` says what the page draws
   * ({edges, layer, sample}), so that frames leave out the rest.
   */
  start({ stepsPerFrame, fps }, view) {
    this.playing = true;
    this.speed = { stepsPerFrame, fps };
    this.view = view;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${session(this.id)}/stream?encoding=binary`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.finished = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        // Closed while still meant to be playing: the server stopped it (error, restart).
        if (this.playing) {
          this.playing = false;
          this.onLost?.(event);
        }
        resolve();
      });
    });
    socket.addEventListener("open", () => {
      this.send(this.playMessage());
      this.watch();
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
  }

  receive(data) {
    clearTimeout(this.watchdog);
    if (typeof data === "string") {
      // Only errors come as text on a binary stream.
      const message = JSON.parse(data);
      this.onError?.(new ApiError(400, describeError(message, { statusText: "stream error" })));
      if (this.playing) this.watch();
      return;
    }
    const frame = decodeFrame(data);
    this.onFrame(frame);
    if (!frame.playing) {
      // The server stopped (pause answered, or training diverged): this socket is done.
      this.playing = false;
      this.socket.close(1000);
    } else if (this.playing && frame.reason === "play") {
      // Acknowledged once drawn: the store's redraw was queued first, so it has run by then.
      requestAnimationFrame(() => {
        if (!this.playing) return;
        this.send({ action: "ack" });
        this.watch();
      });
    } else if (this.playing) this.watch();
  }

  /** A playing server that goes silent (its training loop failed) counts as lost. */
  watch() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      if (!this.playing) return;
      this.playing = false;
      this.onLost?.();
      this.socket?.close(1000);
    }, STALL_MS + 3000 / this.speed.fps);
  }

  playMessage() {
    const { stepsPerFrame, fps } = this.speed;
    return { action: "play", steps_per_frame: stepsPerFrame, max_fps: fps, ack: true, window: WINDOW, view: this.view };
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  /** Another speed while playing (the server retunes between two frames). */
  setSpeed({ stepsPerFrame, fps }) {
    this.speed = { stepsPerFrame, fps };
    if (this.playing) {
      this.send(this.playMessage());
      this.watch();
    }
  }

  /** The page draws something else (edges W/dW, another layer): frames follow. */
  setView(view) {
    if (JSON.stringify(view) === JSON.stringify(this.view)) return;
    this.view = view;
    if (this.playing) this.send(this.playMessage());
  }

  /** Ask the server to pause; resolves once its last frame arrived and the socket closed. */
  stop() {
    this.playing = false;
    clearTimeout(this.watchdog);
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    if (socket.readyState === WebSocket.OPEN) this.send({ action: "pause" });
    else if (socket.readyState === WebSocket.CONNECTING) socket.close(1000);
    // Never wait forever on a server that has gone away.
    const timeout = new Promise((resolve) => setTimeout(resolve, 3000));
    return Promise.race([this.finished, timeout]).then(() => {
      if (socket.readyState !== WebSocket.CLOSED) socket.close(1000);
    });
  }
}
