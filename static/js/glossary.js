// Definitions on hover and focus: every metric label on the page is a `term` whose definition
// (label, formula, meaning) comes from the catalog's glossary, the engine's own words.
//
// A term is a focusable span (Tab reaches it) carrying its definition as aria-description for
// screen readers; one shared popup shows the same definition next to whichever term the
// pointer or the focus is on, and hides when both leave (or on Escape).

import { html } from "./dom.js";

let terms = {};
let popup = null;
let shownFor = null;

/** Load the catalog's glossary and wire the one popup (once, at start). */
export function mountGlossary(glossary) {
  terms = Object.fromEntries(glossary.map((term) => [term.key, term]));
  // Terms written into the page shell (legends) get their definitions here.
  for (const node of document.querySelectorAll(".term[data-term]")) node.setAttribute("aria-description", definition(node.dataset.term));
  popup = html("div", { class: "term-popup", role: "tooltip", id: "term-popup", hidden: true });
  document.body.append(popup);
  const show = (event) => {
    const node = event.target.closest?.(".term");
    if (node) showFor(node);
  };
  const hide = (event) => {
    const node = event.target.closest?.(".term");
    if (node && node === shownFor && !node.matches(":hover") && document.activeElement !== node) hidePopup();
  };
  document.addEventListener("pointerover", show);
  document.addEventListener("focusin", show);
  document.addEventListener("pointerout", hide);
  document.addEventListener("focusout", (event) => {
    if (event.target === shownFor) hidePopup();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && shownFor) hidePopup();
  });
  // A term removed while its popup shows (the view redrew): hide it rather than float alone.
  new MutationObserver(() => shownFor && !shownFor.isConnected && hidePopup()).observe(document.body, {
    childList: true,
    subtree: true,
  });
}

/** The definition of `key` as one line of text ("formula — meaning"), or "" if unknown. */
export function definition(key) {
  const term = terms[key];
  return term ? `${term.formula} — ${term.meaning}` : "";
}

/** A metric label: `text` (default: the glossary's label) with its definition on hover/focus. */
export function term(key, text) {
  const entry = terms[key];
  const label = text ?? entry?.label ?? key;
  if (!entry) return html("span", { text: label });
  return html("span", {
    class: "term",
    tabindex: "0",
    "data-term": key,
    "aria-description": definition(key),
    text: label,
  });
}

function showFor(node) {
  const entry = terms[node.dataset.term];
  if (!entry || !popup) return;
  shownFor = node;
  popup.replaceChildren(
    html("strong", { text: entry.label }),
    html("code", { text: entry.formula }),
    html("span", { text: entry.meaning }),
  );
  popup.hidden = false;
  node.setAttribute("aria-describedby", "term-popup");
  // Below the term, kept inside the viewport (pages scroll: use document coordinates).
  const box = node.getBoundingClientRect();
  const width = Math.min(320, window.innerWidth - 16);
  popup.style.width = `${width}px`;
  const left = Math.max(8, Math.min(box.left, window.innerWidth - width - 8));
  let top = box.bottom + 6;
  const height = popup.offsetHeight;
  if (top + height > window.innerHeight - 4 && box.top - height - 6 > 0) top = box.top - height - 6;
  popup.style.left = `${left + window.scrollX}px`;
  popup.style.top = `${top + window.scrollY}px`;
}

function hidePopup() {
  shownFor?.removeAttribute("aria-describedby");
  shownFor = null;
  if (popup) popup.hidden = true;
}
