// Tiny element builders: the views create many SVG nodes and a few HTML ones.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an SVG element with attributes; children are appended in order. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const child of children) node.append(child);
  return node;
}

/** Create an HTML element; `text` in attrs sets textContent, `class` sets className. */
export function html(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/** Set attributes only when they differ, so repeated idempotent updates stay cheap. */
export function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    const text = String(value);
    if (node.getAttribute(key) !== text) node.setAttribute(key, text);
  }
}

/** Make `node`'s text `text`. A node holding one text node keeps it and takes the new
 * characters: replacing the text node (as setting textContent does) would also make the
 * browser recompute the element's style and rebuild its layout objects, every frame. */
export function setText(node, text) {
  const value = String(text);
  const child = node.firstChild;
  if (value === "") {
    if (child !== null) node.textContent = ""; // no empty text node: :empty still matches
  } else if (child !== null && child === node.lastChild && child.nodeType === Node.TEXT_NODE) {
    if (child.data !== value) child.data = value;
  } else if (node.textContent !== value) node.textContent = value;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

/**
 * Make `node`'s children `parts` (strings and nodes), keeping what is already there: an equal
 * node stays, a text node takes the new text. A readout written every frame then changes
 * only the text that changed, instead of replacing every node in it.
 */
export function patchChildren(node, parts) {
  const children = node.childNodes;
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k];
    const current = children[k];
    if (typeof part === "string" || typeof part === "number") {
      const text = String(part);
      if (current?.nodeType === Node.TEXT_NODE) {
        if (current.data !== text) current.data = text;
      } else if (current) node.replaceChild(document.createTextNode(text), current);
      else node.append(text);
    } else if (!current) node.append(part);
    else if (!current.isEqualNode(part)) node.replaceChild(part, current);
  }
  while (children.length > parts.length) node.lastChild.remove();
}
