// Lesson panel: the list of lessons (each a link, /?lesson=<id>, one click from a fresh page),
// or the open lesson walked through step by step. "Next" does the next step on every setup in
// lockstep; "Previous" goes back to the step before (the page replays the lesson up to it:
// same config and seed, same numbers). Checkpoint sentences come from the server filled in with
// the live numbers; one that no longer holds says what it expected and what it found.

import { html } from "./dom.js";

const PANEL_NAMES = {
  network: "the network diagram",
  flow: "the gradient flow",
  inspector: "the inspector",
  loss: "the loss chart",
  boundary: "the decision boundary",
  controls: "the setup panel",
  transport: "the transport buttons",
};

/** What a lesson step does, in words ("the backward pass", "300 training steps"). */
export function describeAction(step) {
  const layers = (n) => `${n} layer${n === 1 ? "" : "s"}`;
  switch (step.do) {
    case "forward":
      return step.layers === null ? "the forward pass" : `forward ${layers(step.layers)}`;
    case "backward":
      return step.layers === null ? "the backward pass" : `backward ${layers(step.layers)}`;
    case "loss":
      return "the loss";
    case "update":
      return "the update";
    case "train":
      return `${step.steps} training step${step.steps === 1 ? "" : "s"}`;
    default:
      return "a closer look (nothing runs)";
  }
}

export class LessonPanel {
  constructor(element, { onOpen, onMove, onClose, onHide }) {
    this.root = element;
    this.onOpen = onOpen;
    this.onMove = onMove;
    this.onClose = onClose;
    this.onHide = onHide;
    this.shown = null;
  }

  update(state) {
    if (this.root.hidden !== state.lessonHidden) this.root.hidden = state.lessonHidden;
    if (state.lessonHidden) return;
    const lesson = state.lesson;
    if (!lesson) {
      this.showList(state.lessons);
      return;
    }
    this.showLesson(lesson);
  }

  head(title, ...extra) {
    const hide = html("button", { type: "button", class: "icon", "data-action": "hide-lesson", "aria-label": "Hide this panel (the Lessons button brings it back)", title: "Hide (l)" }, "×");
    hide.addEventListener("click", () => this.onHide());
    return html("div", { class: "panel-head" }, html("h2", { text: title }), ...extra, hide);
  }

  showList(lessons) {
    if (this.shown === lessons) return;
    this.shown = lessons;
    this.root.dataset.mode = "list";
    delete this.root.dataset.lesson;
    if (!lessons) {
      this.root.replaceChildren(this.head("Lessons"), html("p", { class: "hint", text: "Loading the lessons…" }));
      return;
    }
    const items = lessons.map((lesson) => {
      const setups = lesson.setups.map((s) => s.name).join(" vs ");
      const link = html(
        "a",
        { href: lesson.link, "data-lesson": lesson.id, title: lesson.refused ?? lesson.summary, "aria-disabled": lesson.refused ? "true" : null },
        lesson.title,
      );
      link.addEventListener("click", (event) => {
        // A plain click opens the lesson here; a modified one (new tab) follows the link.
        if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        if (!lesson.refused) this.onOpen(lesson.id);
      });
      return html("li", { "data-setups": setups }, link);
    });
    this.root.replaceChildren(
      this.head("Lessons"),
      html("p", { class: "hint lesson-intro", text: "Each classic backprop phenomenon in one click, its setups side by side, explained by the live numbers." }),
      html("ol", { class: "lesson-list" }, ...items),
    );
  }

  showLesson(lesson) {
    const data = lesson.data;
    const key = JSON.stringify([data.id, lesson.position, lesson.running, lesson.error, lesson.readings]);
    if (this.shown === key) return;
    this.shown = key;
    this.root.dataset.mode = "lesson";
    this.root.dataset.lesson = data.id;
    this.root.dataset.position = String(lesson.position);
    this.root.dataset.running = String(lesson.running);
    const total = data.steps.length;
    const progress = html("span", { class: "lesson-progress", text: lesson.position === 0 ? `${total} step${total === 1 ? "" : "s"}` : `step ${lesson.position} of ${total}` });
    const all = html("button", { type: "button", class: "link-button", "data-action": "all-lessons", title: "Close this lesson and list them all (the setups stay as they are)" }, "All lessons");
    all.addEventListener("click", () => this.onClose());
    const body = html("div", { class: "lesson-body" });
    if (lesson.position === 0) {
      body.append(
        html("p", { class: "lesson-summary", text: data.summary }),
        html("p", {}, html("strong", { text: "Goal. " }), data.goal),
        html("p", {}, html("strong", { text: "Watch. " }), data.watch),
        html("ul", { class: "lesson-setups" }, ...data.setups.map((s) => html("li", {}, html("strong", { text: `${s.name} ` }), s.label))),
      );
    } else {
      const step = data.steps[lesson.position - 1];
      body.append(html("p", { class: "lesson-text", text: step.text }));
      if (step.highlight) body.append(html("p", { class: "hint lesson-look", text: `Look at ${PANEL_NAMES[step.highlight]}.` }));
      body.append(this.checkpoints(step, lesson));
    }
    if (lesson.error) body.append(html("p", { class: "lesson-error", role: "alert", text: lesson.error }));
    const previous = html("button", { type: "button", "data-action": "lesson-previous", title: "The step before (PageUp)", disabled: lesson.position === 0 || lesson.running }, "◂ Previous");
    const next = html(
      "button",
      { type: "button", class: "primary", "data-action": "lesson-next", title: "Do the next step on every setup (PageDown or n)", disabled: lesson.position >= total || lesson.running },
      lesson.position === 0 ? "Start ▸" : "Next ▸",
    );
    previous.addEventListener("click", () => this.onMove(-1));
    next.addEventListener("click", () => this.onMove(1));
    const upcoming = data.steps[lesson.position];
    const setupNames = data.setups.map((s) => s.name);
    const names = setupNames.length > 1 ? `${setupNames.slice(0, -1).join(", ")} and ${setupNames[setupNames.length - 1]}` : setupNames[0];
    const hint = lesson.running
      ? "Working…"
      : upcoming
        ? `Next: ${describeAction(upcoming)}${upcoming.do === "look" ? "" : ` on ${names}`}.`
        : "End of the lesson: explore on your own, or pick another.";
    const focusBefore = document.activeElement?.closest?.("#lesson [data-action]")?.dataset.action;
    this.root.replaceChildren(
      this.head("Lesson", progress),
      html("h3", { class: "lesson-title", text: data.title }),
      body,
      html("div", { class: "lesson-nav" }, previous, next),
      html("p", { class: "hint lesson-next-hint", text: hint }),
      all,
    );
    // Rebuilt while a button had the focus: give it back, so the keyboard keeps its place.
    if (focusBefore) this.root.querySelector(`[data-action="${focusBefore}"]:not(:disabled)`)?.focus();
  }

  checkpoints(step, lesson) {
    const box = html("div", { class: "checkpoints", "aria-live": "polite" });
    if (!step.checkpoints.length) return box;
    const readings = lesson.readings?.step === lesson.position - 1 ? lesson.readings.checkpoints : null;
    if (!readings) {
      box.append(html("p", { class: "hint", text: "Reading the checkpoint…" }));
      return box;
    }
    for (const reading of readings) {
      if (reading.holds) {
        box.append(html("p", { class: "checkpoint", "data-holds": "true" }, html("span", { class: "mark", "aria-hidden": "true", text: "✓ " }), reading.text));
        continue;
      }
      // Not true right now (a setting changed, or more steps ran): say so instead of claiming it.
      box.append(
        html(
          "div",
          { class: "checkpoint", "data-holds": "false" },
          html("p", { class: "checkpoint-warning", text: "This checkpoint does not hold for the setups as they are now:" }),
          html("ul", {}, ...reading.failures.map((failure) => html("li", { text: failure }))),
        ),
      );
    }
    return box;
  }
}
