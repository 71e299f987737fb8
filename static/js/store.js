// The page's one store. `set(changes)` replaces fields of the state (never edits the objects
// inside it: a changed trace, boundary or history is a new object), writes the URL when the
// setup or the view changed, and schedules one redraw for the next animation frame. Views
// redraw a part only when the object they drew it from is no longer the same object.

// The fields a link carries: the setup(s), the view, the lesson and the compared pair.
const LINKED = ["config", "view", "runs", "pair", "lesson", "focus"];

export function createStore(initial, { render, writeUrl }) {
  let state = { ...initial };
  let queued = false;

  function flush() {
    queued = false;
    render(state);
  }

  return {
    get state() {
      return state;
    },
    set(changes) {
      state = { ...state, ...changes };
      if (LINKED.some((key) => key in changes)) writeUrl(state);
      if (!queued) {
        queued = true;
        requestAnimationFrame(flush);
      }
    },
    /** Redraw without a change (the window was resized). */
    redraw() {
      this.set({});
    },
  };
}

/** True when every field of `next` is the very same value as in `previous` (views keep what
 * they last drew from and skip a redraw when none of it was replaced). */
export function unchanged(previous, next) {
  return Boolean(previous) && Object.keys(next).every((key) => Object.is(previous[key], next[key]));
}
