// A few training sequences of the session's task (GET /data), so a learner sees what the
// network is asked to do: each input feature over time as bars from a zero line (up positive,
// down negative, scaled per feature to the largest |value| shown), and the target where the
// task has one (the last step for the delay, adding and parity tasks; every step for sine).
// Every value drawn is the API's; hovering a bar gives it exactly.

import { html, setText, svg } from "../dom.js";
import { exact, fmt } from "../format.js";
import { NEGATIVE, POSITIVE } from "../palette.js";

const SHOWN = 4;
const LABEL = 40; // room for the row labels
const ROW = 18;
const MIN_COL = 4;
const RIGHT = 14; // room for a class digit beside the last step's target

const present = (v) => v !== null && v !== undefined && Number.isFinite(v);

export class SequenceView {
  /** `root` holds `.rnn-seq-list` and `.rnn-seq-caption`; `rc` is the recurrent catalog. */
  constructor(root, rc) {
    this.root = root;
    this.rc = rc;
    this.list = root.querySelector(".rnn-seq-list");
    this.caption = root.querySelector(".rnn-seq-caption");
    this.drawn = null;
  }

  update(state, { note = "" } = {}) {
    const data = state.data;
    if (data?.model !== "recurrent") return;
    const width = Math.max(160, Math.floor(this.list.clientWidth || this.root.clientWidth || 280));
    if (this.drawn?.data === data && this.drawn.width === width && this.drawn.note === note) return;
    this.drawn = { data, width, note };
    const xs = data.train.x.slice(0, SHOWN);
    const ys = data.train.y.slice(0, SHOWN);
    const T = data.length;
    const F = data.n_inputs;
    const binary = data.task === "binary";
    // One scale per input feature (a marker of 1 beside distractors of ±8 stays visible).
    const top = Array.from({ length: F }, (_, f) => Math.max(1e-12, ...xs.flatMap((x) => x.map((row) => Math.abs(row[f] ?? 0)))));
    const yTop = Math.max(1e-12, ...ys.flatMap((y) => y.filter(present).map(Math.abs)));
    this.list.replaceChildren(...xs.map((x, k) => this.sequence(k, x, ys[k], { T, F, binary, top, yTop, width })));
    const task = this.rc?.taskByName?.[data.name];
    setText(
      this.caption,
      `${data.name}${task?.description ? `: ${task.description}` : ""}. The first ${xs.length} of ${data.n_train} training sequences, T = ${T}; bars: inputs x_t[f] (each feature scaled to its largest |value| here; up positive, down negative), y: the target.${note ? ` ${note}` : ""}`,
    );
    this.root.dataset.sequences = String(xs.length);
  }

  sequence(k, x, y, { T, F, binary, top, yTop, width }) {
    const col = Math.max(MIN_COL, (width - LABEL - RIGHT) / T);
    const plotW = LABEL + col * T + RIGHT;
    const height = (F + 1) * ROW + 4;
    const node = svg("svg", { class: "rnn-seq", "data-index": k, width: plotW, height, viewBox: `0 0 ${plotW} ${height}`, role: "img", "aria-label": `Training sequence ${k}: inputs over time and the target` });
    for (let f = 0; f < F; f++) {
      const mid = f * ROW + ROW / 2 + 1;
      node.append(svg("text", { class: "rnn-ticklabel", x: 2, y: mid + 3 }, `x[${f}]`));
      node.append(svg("line", { class: "rnn-seq-zero", x1: LABEL, x2: LABEL + col * T, y1: mid, y2: mid }));
      for (let t = 0; t < T; t++) {
        const v = x[t][f];
        const h = (Math.abs(v) / top[f]) * (ROW / 2 - 1);
        node.append(
          svg(
            "rect",
            { class: "rnn-seq-x", "data-f": f, "data-t": t, "data-v": String(v), x: LABEL + t * col + 0.5, y: v >= 0 ? mid - h : mid, width: Math.max(1, col - 1), height: Math.max(v === 0 ? 0 : 0.5, h), fill: v >= 0 ? POSITIVE : NEGATIVE },
            svg("title", {}, `x_${t}[${f}] = ${exact(v)}`),
          ),
        );
      }
    }
    const mid = F * ROW + ROW / 2 + 1;
    node.append(svg("text", { class: "rnn-ticklabel", x: 2, y: mid + 3 }, "y"));
    for (let t = 0; t < T; t++) {
      const v = y[t];
      if (!present(v)) continue;
      const cx = LABEL + t * col + col / 2;
      const title = svg("title", {}, `target y_${t} = ${exact(v)}`);
      if (binary) {
        // A class: filled for 1, hollow for 0, and the digit when there is room for it.
        const attrs = { class: `rnn-seq-y${v ? " is-one" : ""}`, "data-t": t, "data-v": String(v), cx, cy: mid, r: Math.min(5, col / 2) };
        node.append(svg("circle", attrs, title));
        if (col >= 12) node.append(svg("text", { class: "rnn-seq-digit", x: cx + Math.min(5, col / 2) + 2, y: mid + 3 }, String(v)));
      } else {
        const h = (Math.abs(v) / yTop) * (ROW / 2 - 1);
        node.append(svg("rect", { class: "rnn-seq-target", "data-t": t, "data-v": String(v), x: LABEL + t * col + 0.5, y: v >= 0 ? mid - h : mid, width: Math.max(1, col - 1), height: Math.max(0.5, h) }, title));
      }
    }
    const last = y.map((v, t) => (present(v) ? t : -1)).filter((t) => t >= 0);
    const summary = last.length === 1 ? `target y_${last[0]} = ${fmt(y[last[0]])}` : `targets at ${last.length} steps`;
    const head = html("p", { class: "rnn-seq-head" }, html("span", { text: `sequence ${k}` }), " · ", html("span", { "data-field": "target", text: summary }));
    const wrap = html("div", { class: "rnn-seq-item", "data-index": k }, head, node);
    return wrap;
  }
}
