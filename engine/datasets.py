"""Teaching datasets, input features and CSV loading.

Every generator is ``generate(n, noise, rng) -> (X, y)`` with an explicit
``np.random.Generator``; the same seed gives the same points. Shapes and label encoding:

- ``X``: ``(n, 2)`` float64 (``(n, 1)`` for ``sine``), raw coordinates before any feature
  transform. The 2-D sets live in ``[-6, 6]²`` like TF Playground (points are clipped to it).
- ``y``: ``(n,)``. Binary: float64 ``0.0``/``1.0``. Multiclass: int64 class index ``0..K-1``.
  Regression: float64 target in about ``[-1, 1]`` (plus the noise).

``noise`` in ``[0, 1]`` is a fraction of a scale ``s`` that fits each dataset. The points are
drawn first and the noise is applied on top, so the same seed with a different noise level
moves the same points further:

========================  ============================================================
dataset                   what ``noise`` does
========================  ============================================================
circle, xor               each coordinate moves by U(−1, 1)·noise·2.5 (2.5 = inner radius
                          / distance scale of the pattern); labels keep their class
gauss, blobs3             cluster standard deviation σ = 1 + 2·noise
spiral, spiral3           each coordinate moves by U(−1, 1)·noise·1
moons                     each coordinate moves by U(−1, 1)·noise·3 (3 = moon radius)
checkerboard              each coordinate moves by U(−1, 1)·noise·1.5 (half a cell)
plane, multigauss, sine   the target moves by U(−1, 1)·noise·1 (1 = target amplitude)
========================  ============================================================

So noise 0 is clean, 0.1 (the default) is mild, 0.5 is very noisy and 1 is mostly noise.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from engine.errors import ConfigError

if TYPE_CHECKING:
    from engine.config import DatasetConfig

FloatArray = NDArray[np.float64]
Task = Literal["binary", "multiclass", "regression"]
Domain = tuple[float, float, float, float]
GenerateFn = Callable[[int, float, np.random.Generator], tuple[FloatArray, NDArray[Any]]]

SQUARE: Domain = (-6.0, 6.0, -6.0, 6.0)
TAU = 2.0 * math.pi


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A built-in dataset: ``generate(n, noise, rng) -> (X (n, input_dim), y (n,))``.

    ``domain`` = (xmin, xmax, ymin, ymax) is fixed per dataset; for the 1-D ``sine`` the
    y-range is the range of the target, for plotting the fitted curve.
    """

    name: str
    task: Task
    n_classes: int  # 1 for regression
    input_dim: int
    description: str
    generate: GenerateFn
    domain: Domain = SQUARE


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    """A dataset split into train and test parts (raw coordinates, before features).

    ``x_train``: ``(n_train, input_dim)``, ``y_train``: ``(n_train,)``; likewise for test.
    Labels as in the module docstring. ``classes`` holds, per class index, the label value it
    came from (a CSV's ``-1``/``1`` become 0/1 → ``classes == (-1.0, 1.0)``); empty for
    regression.
    """

    name: str
    task: Task
    n_classes: int
    input_dim: int
    x_train: FloatArray
    y_train: NDArray[Any]
    x_test: FloatArray
    y_test: NDArray[Any]
    domain: Domain
    classes: tuple[float, ...] = ()

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])


# --- generators -------------------------------------------------------------------------------


def _class_sizes(n: int, k: int) -> list[int]:
    """``n`` split into ``k`` nearly equal parts (the first ``n % k`` get one more)."""
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def _jitter(X: FloatArray, noise: float, scale: float, rng: np.random.Generator) -> FloatArray:
    """``X + U(-1, 1)·noise·scale`` per entry, clipped to ``[-6, 6]``. Always draws, so the
    same seed gives the same base points at every noise level."""
    moved = X + rng.uniform(-1.0, 1.0, size=X.shape) * (noise * scale)
    return np.clip(moved, -6.0, 6.0)


def _polar(r: FloatArray, angle: FloatArray) -> FloatArray:
    """``(n,)`` radii and angles → ``(n, 2)`` points."""
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def circle(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Class 1: disc of radius 2.5; class 0: ring 3.5 ≤ r ≤ 5 around it."""
    n_in, n_out = _class_sizes(n, 2)
    r = np.concatenate([rng.uniform(0.0, 2.5, n_in), rng.uniform(3.5, 5.0, n_out)])
    X = _polar(r, rng.uniform(0.0, TAU, n))
    y = np.concatenate([np.ones(n_in), np.zeros(n_out)])
    return _jitter(X, noise, 2.5, rng), y


def xor(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Uniform in ``[-5, 5]²`` kept 0.3 away from the axes; class 1 where x1·x2 > 0."""
    X = rng.uniform(-5.0, 5.0, size=(n, 2))
    X += np.where(X >= 0.0, 0.3, -0.3)
    y = (X[:, 0] * X[:, 1] > 0.0).astype(np.float64)
    return _jitter(X, noise, 2.5, rng), y


def gauss(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Two Gaussian clusters: class 1 around (2, 2), class 0 around (−2, −2)."""
    n1, n0 = _class_sizes(n, 2)
    centres = np.concatenate([np.tile([2.0, 2.0], (n1, 1)), np.tile([-2.0, -2.0], (n0, 1))])
    X = centres + rng.standard_normal((n, 2)) * (1.0 + 2.0 * noise)
    y = np.concatenate([np.ones(n1), np.zeros(n0)])
    return np.clip(X, -6.0, 6.0), y


def _spiral_arms(
    n: int, k: int, turns: float, noise: float, rng: np.random.Generator
) -> tuple[FloatArray, NDArray[np.int64]]:
    """``k`` interleaved arms, radius 0..5 over ``turns`` turns; arm c is class c."""
    labels = np.repeat(np.arange(k), _class_sizes(n, k))
    r = rng.uniform(0.0, 5.0, n)
    angle = TAU * (turns * r / 5.0 + labels / k)
    return _jitter(_polar(r, angle), noise, 1.0, rng), labels


def spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Two interleaved spiral arms, 1.75 turns (TF Playground's spiral)."""
    X, labels = _spiral_arms(n, 2, 1.75, noise, rng)
    return X, labels.astype(np.float64)


def spiral3(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, NDArray[np.int64]]:
    """Three interleaved spiral arms, 1.25 turns (about the same gap between arms as spiral)."""
    return _spiral_arms(n, 3, 1.25, noise, rng)


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Two interlocking half-moons of radius 3: class 0 the upper arc, class 1 the lower."""
    n0, n1 = _class_sizes(n, 2)
    t = rng.uniform(0.0, math.pi, n)
    upper = np.column_stack([np.cos(t[:n0]), np.sin(t[:n0])])
    lower = np.column_stack([1.0 - np.cos(t[n0:]), 0.5 - np.sin(t[n0:])])
    X = 3.0 * (np.concatenate([upper, lower]) - [0.5, 0.25])
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    return _jitter(X, noise, 3.0, rng), y


def checkerboard(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Uniform in ``[-6, 6]²`` on a 4×4 board of 3×3 cells; class 1 where ⌊x1/3⌋ + ⌊x2/3⌋
    is even."""
    X = rng.uniform(-6.0, 6.0, size=(n, 2))
    y = (np.floor(X / 3.0).sum(axis=1) % 2 == 0).astype(np.float64)
    return _jitter(X, noise, 1.5, rng), y


BLOB_CENTRES = np.array([[0.0, 3.0], [-3.0 * math.sqrt(0.75), -1.5], [3.0 * math.sqrt(0.75), -1.5]])


def blobs3(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, NDArray[np.int64]]:
    """Three Gaussian clusters around (0, 3), (−2.6, −1.5), (2.6, −1.5): classes 0, 1, 2."""
    labels = np.repeat(np.arange(3), _class_sizes(n, 3))
    X = BLOB_CENTRES[labels] + rng.standard_normal((n, 2)) * (1.0 + 2.0 * noise)
    return np.clip(X, -6.0, 6.0), labels


def _noisy_target(y: FloatArray, noise: float, rng: np.random.Generator) -> FloatArray:
    """``y + U(-1, 1)·noise`` per entry (always draws, like ``_jitter``)."""
    return y + rng.uniform(-1.0, 1.0, size=y.shape) * noise


def plane(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Uniform in ``[-6, 6]²``; target (x1 + x2)/12, a tilted plane in [−1, 1]."""
    X = rng.uniform(-6.0, 6.0, size=(n, 2))
    y = _noisy_target((X[:, 0] + X[:, 1]) / 12.0, noise, rng)
    return X, y


# (centre x1, centre x2, sign): six bumps in a 3×2 grid with alternating signs.
BUMPS = np.array(
    [
        [-4.0, 2.5, 1.0],
        [0.0, 2.5, -1.0],
        [4.0, 2.5, 1.0],
        [-4.0, -2.5, -1.0],
        [0.0, -2.5, 1.0],
        [4.0, -2.5, -1.0],
    ]
)


def multigauss(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Uniform in ``[-6, 6]²``; target = Σ ±exp(−‖x − c‖² / (2·1.25²)) over six bumps."""
    X = rng.uniform(-6.0, 6.0, size=(n, 2))
    sq_dist = ((X[:, None, :] - BUMPS[None, :, :2]) ** 2).sum(axis=2)  # (n, 6)
    y = _noisy_target(np.exp(-sq_dist / (2.0 * 1.25**2)) @ BUMPS[:, 2], noise, rng)
    return X, y


def sine(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """1-D function fitting: x1 uniform in [−6, 6] (shape ``(n, 1)``), target sin(x1)."""
    X = rng.uniform(-6.0, 6.0, size=(n, 1))
    y = _noisy_target(np.sin(X[:, 0]), noise, rng)
    return X, y


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "circle",
            "binary",
            2,
            2,
            "A disc (class 1) inside a ring (class 0). Noise: points move by up to ±noise·2.5.",
            circle,
        ),
        DatasetSpec(
            "xor",
            "binary",
            2,
            2,
            "Four quadrants: class 1 where x1·x2 > 0. Noise: points move by up to ±noise·2.5.",
            xor,
        ),
        DatasetSpec(
            "gauss",
            "binary",
            2,
            2,
            "Two Gaussian clusters at (2, 2) and (−2, −2). Noise: spread σ = 1 + 2·noise.",
            gauss,
        ),
        DatasetSpec(
            "spiral",
            "binary",
            2,
            2,
            "Two interleaved spiral arms. Noise: points move by up to ±noise.",
            spiral,
        ),
        DatasetSpec(
            "moons",
            "binary",
            2,
            2,
            "Two interlocking half-moons. Noise: points move by up to ±noise·3.",
            moons,
        ),
        DatasetSpec(
            "checkerboard",
            "binary",
            2,
            2,
            "A 4×4 checkerboard of 3×3 cells. Noise: points move by up to ±noise·1.5.",
            checkerboard,
        ),
        DatasetSpec(
            "spiral3",
            "multiclass",
            3,
            2,
            "Three interleaved spiral arms (classes 0, 1, 2). Noise: points move by up to ±noise.",
            spiral3,
        ),
        DatasetSpec(
            "blobs3",
            "multiclass",
            3,
            2,
            "Three Gaussian clusters (classes 0, 1, 2). Noise: spread σ = 1 + 2·noise.",
            blobs3,
        ),
        DatasetSpec(
            "plane",
            "regression",
            1,
            2,
            "A tilted plane: target (x1 + x2)/12 in [−1, 1]. Noise: target moves by up to ±noise.",
            plane,
        ),
        DatasetSpec(
            "multigauss",
            "regression",
            1,
            2,
            "Six Gaussian bumps of alternating sign, target in [−1, 1]. "
            "Noise: target moves by up to ±noise.",
            multigauss,
        ),
        DatasetSpec(
            "sine",
            "regression",
            1,
            1,
            "1-D function fitting: target sin(x1) for x1 in [−6, 6]. "
            "Noise: target moves by up to ±noise.",
            sine,
            (-6.0, 6.0, -2.0, 2.0),
        ),
    )
}


def _split(
    name: str,
    task: Task,
    n_classes: int,
    X: FloatArray,
    y: NDArray[Any],
    domain: Domain,
    train_fraction: float,
    rng: np.random.Generator,
    classes: tuple[float, ...],
) -> Dataset:
    """Shuffle and split; at least one train and one test sample (needs ``n >= 2``)."""
    n = X.shape[0]
    order = rng.permutation(n)
    n_train = min(max(round(n * train_fraction), 1), n - 1)
    train, test = order[:n_train], order[n_train:]
    return Dataset(
        name, task, n_classes, X.shape[1], X[train], y[train], X[test], y[test], domain, classes
    )


def make_dataset(cfg: DatasetConfig) -> Dataset:
    """Generate ``cfg.n_samples`` points of a built-in dataset with ``rng = default_rng(cfg.seed)``,
    shuffle, and split by ``cfg.train_fraction``. Ranges are checked by ``DatasetConfig.validate``;
    here only what would make generation impossible raises ``ConfigError``."""
    spec = DATASETS.get(cfg.name)
    if spec is None:
        valid = ", ".join(DATASETS)
        raise ConfigError(
            "dataset.name", f"unknown {cfg.name!r}; valid: {valid} (CSV data comes from load_csv)"
        )
    if cfg.n_samples < 2:
        raise ConfigError("dataset.n_samples", f"need at least 2 samples, got {cfg.n_samples}")
    rng = np.random.default_rng(cfg.seed)
    X, y = spec.generate(cfg.n_samples, cfg.noise, rng)
    classes = tuple(float(c) for c in range(spec.n_classes)) if spec.task != "regression" else ()
    return _split(
        spec.name, spec.task, spec.n_classes, X, y, spec.domain, cfg.train_fraction, rng, classes
    )


# --- features ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feature:
    """An input feature: ``fn(X (B, input_dim)) -> (B,)``; ``inputs`` = raw columns it reads."""

    name: str
    label: str
    fn: Callable[[FloatArray], FloatArray]
    inputs: tuple[str, ...]


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("x1", "x₁", lambda X: X[:, 0], ("x1",)),
        Feature("x2", "x₂", lambda X: X[:, 1], ("x2",)),
        Feature("x1_sq", "x₁²", lambda X: X[:, 0] ** 2, ("x1",)),
        Feature("x2_sq", "x₂²", lambda X: X[:, 1] ** 2, ("x2",)),
        Feature("x1x2", "x₁x₂", lambda X: X[:, 0] * X[:, 1], ("x1", "x2")),
        Feature("sin_x1", "sin(x₁)", lambda X: np.sin(X[:, 0]), ("x1",)),
        Feature("sin_x2", "sin(x₂)", lambda X: np.sin(X[:, 1]), ("x2",)),
    )
}


def features_for(input_dim: int) -> list[str]:
    """Names of the features that read only inputs data of ``input_dim`` columns has."""
    available = {"x1", "x2"} if input_dim >= 2 else {"x1"}
    return [f.name for f in FEATURES.values() if set(f.inputs) <= available]


def check_features(features: Sequence[object], input_dim: int, path: str = "features") -> None:
    """Raise ``ConfigError("features...: ...")`` unless ``features`` is a non-empty list of
    distinct FEATURES names that only read inputs the data has (1-D data has x1 only)."""
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise ConfigError(
            path, f"must list at least one feature; valid: {', '.join(FEATURES)}, got {features!r}"
        )
    available = ("x1", "x2")[:input_dim]
    for i, name in enumerate(features):
        feature = FEATURES.get(name) if isinstance(name, str) else None
        if feature is None:
            raise ConfigError(f"{path}[{i}]", f"unknown {name!r}; valid: {', '.join(FEATURES)}")
        if name in features[:i]:
            raise ConfigError(f"{path}[{i}]", f"duplicate {name!r}; list each feature once")
        if not set(feature.inputs) <= set(available):
            usable = ", ".join(features_for(1))
            raise ConfigError(
                f"{path}[{i}]",
                f"{name!r} needs input x2, but the data is 1-D (x1 only); "
                f"valid for 1-D data: {usable}",
            )


def transform(X: FloatArray, features: Sequence[str]) -> FloatArray:
    """Raw coordinates ``(B, input_dim)`` → feature matrix ``(B, len(features))``, in order."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ConfigError("X", f"must be 2-D (B, input_dim), got shape {X.shape}")
    check_features(features, X.shape[1])
    out = np.empty((X.shape[0], len(features)))
    for j, name in enumerate(features):
        out[:, j] = FEATURES[name].fn(X)
    return out


# --- CSV ---------------------------------------------------------------------------------------

LABEL_COLUMNS = ("label", "y")


def _csv_error(message: str) -> ConfigError:
    """A problem with uploaded CSV text: not a config field, so no field path."""
    return ConfigError((), message)


MAX_CLASSES = 10


def _data_domain(X: FloatArray, y: FloatArray) -> Domain:
    """Data range plus a 10 % margin on each side; 1-D data uses the label range for y."""
    cols = [X[:, 0], X[:, 1] if X.shape[1] > 1 else y]
    out: list[float] = []
    for col in cols:
        lo, hi = float(col.min()), float(col.max())
        margin = 0.1 * (hi - lo) if hi > lo else max(1.0, abs(lo))
        out += [lo - margin, hi + margin]
    return (out[0], out[1], out[2], out[3])


def _parse_header(row: list[str]) -> tuple[list[str], str]:
    """Normalised column names and the label column's name, or ConfigError."""
    names = [c.strip().lower() for c in row]
    if all(_is_number(c) for c in names):
        raise _csv_error(
            "CSV line 1: a header row is required, e.g. 'x1,x2,label' (or 'x1,label' for 1-D data)",
        )
    expected = "x1, x2, label (or y); x2 may be left out for 1-D data"
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        raise _csv_error(f"CSV header: duplicate column(s) {_quoted(dupes)}; expected {expected}")
    unknown = [c for c in names if c not in ("x1", "x2", *LABEL_COLUMNS)]
    if unknown:
        raise _csv_error(f"CSV header: unknown column(s) {_quoted(unknown)}; expected {expected}")
    labels = [c for c in names if c in LABEL_COLUMNS]
    if len(labels) > 1:
        raise _csv_error("CSV header: both 'label' and 'y' given; use one as the label column")
    missing = [c for c in ("x1",) if c not in names] + ([] if labels else ["label"])
    if missing:
        raise _csv_error(f"CSV header: missing column(s) {_quoted(missing)}; expected {expected}")
    return names, labels[0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _quoted(names: Sequence[str], most: int = 5) -> str:
    """The first few names quoted (a hostile header may hold thousands)."""
    shown = ", ".join(repr(n) for n in names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def load_csv(
    text: str,
    max_rows: int,
    name: str = "csv",
    *,
    seed: int = 1,
    train_fraction: float = 0.5,
) -> Dataset:
    """Parse CSV text (header ``x1,x2,label`` or ``x1,label``; column order free, names
    case-insensitive, ``y`` accepted for ``label``) into a shuffled train/test split.

    The task follows the labels: all integer-valued with 2 distinct values → binary (the
    smaller value → 0, the larger → 1; e.g. −1/1 → 0/1); 3..10 distinct integers →
    multiclass (sorted values → 0..K−1, e.g. 1, 2, 5 → 0, 1, 2); anything else → regression
    with the targets as given. The domain is the data range plus a 10 % margin.
    Raises ``ConfigError`` naming the line and column for every problem: empty text, missing,
    duplicate or unknown columns, wrong field count, non-numbers, NaN/Inf, more than
    ``max_rows`` data rows, fewer than 2 rows, or fewer than two distinct labels.
    """
    if not text.strip():
        raise _csv_error("CSV is empty; expected a header row such as 'x1,x2,label' and data rows")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    names: list[str] = []
    label = ""
    rows: list[list[float]] = []
    try:
        for row in reader:
            if all(not field.strip() for field in row):
                continue  # blank line
            if not names:
                names, label = _parse_header(row)
                continue
            line = reader.line_num
            if len(row) != len(names):
                raise _csv_error(
                    f"CSV line {line}: expected {len(names)} fields ({', '.join(names)}), "
                    f"got {len(row)}",
                )
            if len(rows) == max_rows:
                raise _csv_error(f"CSV has more than {max_rows} data rows; the limit is {max_rows}")
            values: list[float] = []
            for column, field in zip(names, row, strict=True):
                try:
                    value = float(field.strip())
                except ValueError:
                    raise _csv_error(
                        f"CSV line {line}, column {column!r}: {field.strip()!r} is not a number"
                    ) from None
                if not math.isfinite(value):
                    raise _csv_error(
                        f"CSV line {line}, column {column!r}: {field.strip()!r} is not allowed "
                        "(NaN and infinity are not data)",
                    )
                values.append(value)
            rows.append(values)
    except csv.Error as exc:
        raise _csv_error(f"CSV line {reader.line_num}: {exc}") from None
    if len(rows) < 2:
        raise _csv_error(
            f"CSV has {len(rows)} data row(s); need at least 2 (one to train, one to test)"
        )

    table = np.array(rows)
    inputs = [names.index(c) for c in ("x1", "x2") if c in names]
    X = table[:, inputs]
    raw = table[:, names.index(label)]
    distinct = np.unique(raw)
    if distinct.size < 2:
        raise _csv_error(
            f"CSV column {label!r}: fewer than two classes (every label is {raw[0]:g}); "
            "need at least two distinct labels",
        )
    integer = bool(np.all(raw == np.round(raw)))
    task: Task
    y: NDArray[Any]
    if integer and distinct.size == 2:
        task, n_classes, y = "binary", 2, (raw == distinct[1]).astype(np.float64)
    elif integer and distinct.size <= MAX_CLASSES:
        task, n_classes, y = (
            "multiclass",
            int(distinct.size),
            np.searchsorted(distinct, raw).astype(np.int64),
        )
    else:
        task, n_classes, y = "regression", 1, raw
    classes = tuple(float(v) for v in distinct) if task != "regression" else ()
    rng = np.random.default_rng(seed)
    return _split(name, task, n_classes, X, y, _data_domain(X, raw), train_fraction, rng, classes)
