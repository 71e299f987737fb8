// Number formatting shared by every view, so one value reads the same everywhere.

/** Compact human form: 3 significant digits, exponent form for very small or large values. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "—";
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e4 || magnitude < 1e-3) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

/** Full precision, for places where a reader compares two numbers digit by digit. */
export function exact(value) {
  if (value === null || value === undefined) return "—";
  return Number.isFinite(value) ? value.toPrecision(12).replace(/\.?0+(e|$)/, "$1") : String(value);
}

export function percent(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
}

/** Short axis label: "0.25", "1.2e40", "3e-7" (no "+", few significant digits). */
export function tick(value) {
  if (!Number.isFinite(value)) return "";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e4 || magnitude < 1e-3)) {
    return value.toExponential(1).replace(".0e", "e").replace("e+", "e");
  }
  return Number(value.toPrecision(3)).toString();
}

/** How every view names weight layer `index` of `count`: "layer 2" / "output layer", short "L2" / "out". */
export function layerName(index, count, short = false) {
  if (index === count - 1) return short ? "out" : "output layer";
  return short ? `L${index + 1}` : `layer ${index + 1}`;
}
