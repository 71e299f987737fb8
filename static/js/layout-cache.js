// The sizes views draw at, read from the page's layout once and then cached.
//
// A view that reads clientWidth (or a computed style) while redrawing, after another view has
// written to the page in the same frame, makes the browser lay out the page again right there:
// once per view, every frame. Here sizes are read the first time a view asks, and afterwards
// a ResizeObserver (which runs after layout, when reading is free) keeps them current and asks
// for a redraw when one changed.

const sizes = new WeakMap(); // element → {width, height}: its clientWidth and clientHeight
const styles = new WeakMap(); // element → {mode, values: {custom property: px}}
let changed = () => {};

const observer = new ResizeObserver((entries) => {
  let any = false;
  for (const { target } of entries) {
    const size = { width: target.clientWidth, height: target.clientHeight };
    const old = sizes.get(target);
    styles.delete(target); // a new layout may come with new stylesheet lengths (a media query)
    if (!old || old.width !== size.width || old.height !== size.height) {
      sizes.set(target, size);
      any = true;
    }
  }
  if (any) changed();
});

/** Call `callback` (once per batch) when an element whose size was asked for changed size. */
export function onSizeChange(callback) {
  changed = callback;
}

/** `{width, height}`: the element's clientWidth and clientHeight, kept current. */
export function sizeOf(element) {
  let size = sizes.get(element);
  if (!size) {
    size = { width: element.clientWidth, height: element.clientHeight };
    sizes.set(element, size);
    observer.observe(element);
  }
  return size;
}

/** A length the stylesheet sets in a custom property (presenter mode makes charts and their
 * text larger), in px; read once per element and page mode (the classes of body and #app). */
export function cssPixels(element, name, fallback) {
  const value = Number.parseFloat(cssText(element, name, ""));
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** A custom property's value as the stylesheet sets it for `element` (a colour, say), cached
 * as `cssPixels` caches lengths; `fallback` when it is not set. */
export function cssText(element, name, fallback) {
  const mode = `${document.body.className}|${document.getElementById("app")?.className ?? ""}`;
  let cached = styles.get(element);
  if (!cached || cached.mode !== mode) {
    cached = { mode, values: {} };
    styles.set(element, cached);
  }
  if (!(name in cached.values)) cached.values[name] = getComputedStyle(element).getPropertyValue(name).trim();
  return cached.values[name] || fallback;
}
