"""Datasets: reproducible generators, splits, features and CSV validation."""

import math
from collections.abc import Sequence

import numpy as np
import pytest

from engine.config import DatasetConfig
from engine.datasets import DATASETS, FEATURES, Dataset, load_csv, make_dataset, transform
from engine.errors import ConfigError

NAMES = list(DATASETS)
# Datasets whose noise moves the points by at most noise·scale per coordinate.
JITTER_SCALE = {"circle": 2.5, "xor": 2.5, "spiral": 1.0, "spiral3": 1.0, "moons": 3.0}
JITTER_SCALE["checkerboard"] = 1.5
REGRESSION = [n for n, s in DATASETS.items() if s.task == "regression"]


def both(d: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """All points and labels of a dataset, train then test."""
    return np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])


# --- registry and generated data -----------------------------------------------------------------


def test_registry_names_and_tasks() -> None:
    assert NAMES == [
        "circle",
        "xor",
        "gauss",
        "spiral",
        "moons",
        "checkerboard",
        "spiral3",
        "blobs3",
        "plane",
        "multigauss",
        "sine",
    ]
    tasks = {n: (s.task, s.n_classes, s.input_dim) for n, s in DATASETS.items()}
    assert tasks["circle"] == ("binary", 2, 2)
    assert tasks["spiral3"] == tasks["blobs3"] == ("multiclass", 3, 2)
    assert tasks["plane"] == tasks["multigauss"] == ("regression", 1, 2)
    assert tasks["sine"] == ("regression", 1, 1)
    assert all(s.description for s in DATASETS.values())


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    a = make_dataset(DatasetConfig(name=name, seed=7))
    b = make_dataset(DatasetConfig(name=name, seed=7))
    c = make_dataset(DatasetConfig(name=name, seed=8))
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_labels_and_domain(name: str) -> None:
    spec = DATASETS[name]
    d = make_dataset(DatasetConfig(name=name, n_samples=301, noise=0.2, train_fraction=0.3))
    assert (d.name, d.task, d.n_classes, d.input_dim) == (
        name,
        spec.task,
        spec.n_classes,
        spec.input_dim,
    )
    assert d.x_train.shape == (90, spec.input_dim) and d.y_train.shape == (90,)
    assert d.x_test.shape == (211, spec.input_dim) and d.y_test.shape == (211,)
    assert d.x_train.dtype == np.float64
    X, y = both(d)
    xmin, xmax, ymin, ymax = d.domain
    if spec.input_dim == 2:
        assert d.domain == (-6.0, 6.0, -6.0, 6.0)
        assert np.all((X >= -6.0) & (X <= 6.0))
    else:
        assert d.domain == (-6.0, 6.0, -2.0, 2.0)
        assert np.all((xmin <= X) & (xmax >= X)) and np.all((ymin <= y) & (ymax >= y))
    if spec.task == "binary":
        assert y.dtype == np.float64 and set(np.unique(y)) == {0.0, 1.0}
        assert d.classes == (0.0, 1.0)
    elif spec.task == "multiclass":
        assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1, 2}
        assert d.classes == (0.0, 1.0, 2.0)
    else:
        assert y.dtype == np.float64 and d.classes == ()
        assert np.all(np.abs(y) <= 1.0 + 0.2 + 1e-3)  # target in [-1, 1] plus the noise


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [2, 3, 7])
def test_generators_return_exactly_n_points(name: str, n: int) -> None:
    X, y = DATASETS[name].generate(n, 0.1, np.random.default_rng(0))
    assert X.shape == (n, DATASETS[name].input_dim) and y.shape == (n,)


@pytest.mark.parametrize("name", [n for n, s in DATASETS.items() if s.task != "regression"])
def test_classes_are_balanced_and_shuffled_into_both_parts(name: str) -> None:
    d = make_dataset(DatasetConfig(name=name, n_samples=600, noise=0.0))
    _, y = both(d)
    counts = np.bincount(y.astype(int))
    # circle, gauss, moons, spirals and blobs split evenly; xor and checkerboard are uniform
    # over the square, so each class gets about half.
    assert counts.min() >= 0.4 * len(y) / d.n_classes
    for part in (d.y_train, d.y_test):
        assert len(np.unique(part)) == d.n_classes


def test_noise_zero_is_clean() -> None:
    def gen(name: str) -> tuple[np.ndarray, np.ndarray]:
        return DATASETS[name].generate(2000, 0.0, np.random.default_rng(3))

    X, y = gen("circle")
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r[y == 1] <= 2.5) and np.all((r[y == 0] >= 3.5) & (r[y == 0] <= 5.0))
    X, y = gen("xor")
    assert np.all(np.abs(X) >= 0.3) and np.array_equal(y, (X[:, 0] * X[:, 1] > 0).astype(float))
    X, y = gen("checkerboard")
    assert np.array_equal(y, (np.floor(X / 3).sum(axis=1) % 2 == 0).astype(float))
    X, y = gen("plane")
    np.testing.assert_allclose(y, (X[:, 0] + X[:, 1]) / 12, rtol=0, atol=1e-15)
    assert y.min() >= -1 and y.max() <= 1
    X, y = gen("sine")
    np.testing.assert_allclose(y, np.sin(X[:, 0]), rtol=0, atol=1e-15)
    X, y = gen("multigauss")
    assert np.abs(y).max() <= 1.01 and y.max() > 0.9 and y.min() < -0.9
    X, y = gen("spiral3")
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 5.0


@pytest.mark.parametrize("name", list(JITTER_SCALE))
def test_noise_moves_points_by_at_most_noise_times_scale(name: str) -> None:
    clean_X, clean_y = DATASETS[name].generate(1000, 0.0, np.random.default_rng(5))
    noisy_X, noisy_y = DATASETS[name].generate(1000, 0.2, np.random.default_rng(5))
    np.testing.assert_array_equal(clean_y, noisy_y)  # labels keep the generating class
    moved = np.abs(noisy_X - clean_X)
    assert moved.max() <= 0.2 * JITTER_SCALE[name] + 1e-12
    assert moved.max() > 0.5 * 0.2 * JITTER_SCALE[name]  # the noise is really there


@pytest.mark.parametrize("name", REGRESSION)
def test_regression_noise_moves_the_target_only(name: str) -> None:
    clean_X, clean_y = DATASETS[name].generate(1000, 0.0, np.random.default_rng(5))
    noisy_X, noisy_y = DATASETS[name].generate(1000, 0.3, np.random.default_rng(5))
    np.testing.assert_array_equal(clean_X, noisy_X)
    assert 0.2 < np.abs(noisy_y - clean_y).max() <= 0.3 + 1e-12


@pytest.mark.parametrize("name", ["gauss", "blobs3"])
def test_noise_widens_gaussian_clusters(name: str) -> None:
    for noise, sigma in ((0.0, 1.0), (0.5, 2.0)):
        X, y = DATASETS[name].generate(6000, noise, np.random.default_rng(1))
        members = X[y == 0]
        # Clipping to [-6, 6] trims the wide clusters a little: 15 % tolerance.
        assert members.std(axis=0) == pytest.approx([sigma, sigma], rel=0.15)


def test_circle_classes_overlap_only_with_noise() -> None:
    for noise, overlap in ((0.1, False), (0.6, True)):
        X, y = DATASETS["circle"].generate(2000, noise, np.random.default_rng(2))
        r = np.hypot(X[:, 0], X[:, 1])
        assert bool(r[y == 1].max() > r[y == 0].min()) is overlap


@pytest.mark.parametrize(("n", "fraction", "n_train"), [(2, 0.9, 1), (2, 0.1, 1), (10, 0.3, 3)])
def test_split_keeps_at_least_one_sample_each_side(n: int, fraction: float, n_train: int) -> None:
    d = make_dataset(DatasetConfig(n_samples=n, train_fraction=fraction))
    assert (d.n_train, d.n_test) == (n_train, n - n_train)


@pytest.mark.parametrize("name", ["csv", "nope"])
def test_make_dataset_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match=r"^dataset\.name: unknown .*; valid: circle, xor"):
        make_dataset(DatasetConfig(name=name))


# --- features ------------------------------------------------------------------------------------


def test_feature_registry() -> None:
    assert {n: f.label for n, f in FEATURES.items()} == {
        "x1": "x₁",
        "x2": "x₂",
        "x1_sq": "x₁²",
        "x2_sq": "x₂²",
        "x1x2": "x₁x₂",
        "sin_x1": "sin(x₁)",
        "sin_x2": "sin(x₂)",
    }


def test_transform_values_and_order() -> None:
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    out = transform(X, list(FEATURES))
    expected = [
        [1.0, 2.0, 1.0, 4.0, 2.0, math.sin(1.0), math.sin(2.0)],
        [-3.0, 0.5, 9.0, 0.25, -1.5, math.sin(-3.0), math.sin(0.5)],
    ]
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(transform(X, ["x2", "x1"]), X[:, ::-1])
    assert transform(np.empty((0, 2)), ["x1", "x1x2"]).shape == (0, 2)


def test_transform_on_one_dimensional_data() -> None:
    X = np.array([[2.0], [-1.0]])
    np.testing.assert_array_equal(
        transform(X, ["x1", "x1_sq", "sin_x1"]),
        [[2.0, 4.0, math.sin(2.0)], [-1.0, 1.0, math.sin(-1.0)]],
    )


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            ["x1", "x2"],
            r"^features\[1\]: 'x2' needs input x2, but the data is 1-D .* x1, x1_sq, sin_x1$",
        ),
        (["x1x2"], r"^features\[0\]: 'x1x2' needs input x2"),
        (["sin_x2"], r"^features\[0\]: 'sin_x2' needs input x2"),
        (
            ["x3"],
            r"^features\[0\]: unknown 'x3'; valid: x1, x2, x1_sq, x2_sq, x1x2, sin_x1, sin_x2$",
        ),
        (["x1", "x1"], r"^features\[1\]: duplicate 'x1'"),
        ([], r"^features: must list at least one feature; valid: x1, x2"),
    ],
)
def test_transform_rejects_bad_features(features: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        transform(np.zeros((3, 1)), features)


# --- CSV -----------------------------------------------------------------------------------------


def rows_csv(header: str, rows: Sequence[Sequence[float]]) -> str:
    return header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"


def test_csv_binary_maps_smaller_label_to_zero() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 3, size=(40, 2))
    labels = np.where(pts[:, 0] > 0, 1.0, -1.0)
    text = rows_csv("x1,x2,label", [(a, b, c) for (a, b), c in zip(pts, labels, strict=True)])
    d = load_csv(text, 100, seed=3, train_fraction=0.75)
    assert (d.name, d.task, d.n_classes, d.input_dim, d.classes) == (
        "csv",
        "binary",
        2,
        2,
        (-1.0, 1.0),
    )
    assert (d.n_train, d.n_test) == (30, 10)
    X, y = both(d)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, (X[:, 0] > 0).astype(float))
    np.testing.assert_array_equal(np.sort(X[:, 0]), np.sort(pts[:, 0]))  # every row, once
    xmin, xmax, ymin, ymax = d.domain
    assert xmin < pts[:, 0].min() and xmax > pts[:, 0].max()
    assert ymin < pts[:, 1].min() and ymax > pts[:, 1].max()
    assert xmax - xmin == pytest.approx(1.2 * np.ptp(pts[:, 0]))  # 10 % margin on each side


def test_csv_split_follows_seed() -> None:
    text = rows_csv("x1,x2,label", [(float(i), 0.0, float(i % 2)) for i in range(20)])
    a, b, c = load_csv(text, 50, seed=1), load_csv(text, 50, seed=1), load_csv(text, 50, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


def test_csv_multiclass_maps_sorted_labels_to_indices() -> None:
    rows = [(float(i), float(-i), float([1, 2, 5][i % 3])) for i in range(30)]
    d = load_csv(rows_csv("x1,x2,label", rows), 100)
    assert (d.task, d.n_classes, d.classes) == ("multiclass", 3, (1.0, 2.0, 5.0))
    X, y = both(d)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, X[:, 0].astype(int) % 3)


def test_csv_regression_keeps_targets() -> None:
    rows = [(float(i), 1.0, 0.5 * i + 0.25) for i in range(12)]
    d = load_csv(rows_csv("x1,x2,y", rows), 100)
    assert (d.task, d.n_classes, d.classes) == ("regression", 1, ())
    X, y = both(d)
    np.testing.assert_array_equal(y, 0.5 * X[:, 0] + 0.25)


def test_csv_many_integer_labels_are_regression() -> None:
    rows = [(float(i), 0.0, float(i)) for i in range(11)]
    assert load_csv(rows_csv("x1,x2,label", rows), 100).task == "regression"


def test_csv_one_dimensional_with_y_column() -> None:
    text = "x1,y\n0,0.5\n1,-0.5\n2,1.5\n3,0.25\n"
    d = load_csv(text, 10, name="my data")
    assert (d.name, d.task, d.input_dim) == ("my data", "regression", 1)
    assert d.x_train.shape[1] == 1
    assert d.domain == pytest.approx((-0.3, 3.3, -0.7, 1.7))  # y-range from the targets


def test_csv_header_is_flexible() -> None:
    text = "\ufeff Label ,X2, x1 \r\n\r\n1,2,3\r\n0,5,6\r\n   \r\n"
    d = load_csv(text, 10)
    X, y = both(d)
    order = np.argsort(X[:, 0])
    np.testing.assert_array_equal(X[order], [[3.0, 2.0], [6.0, 5.0]])
    np.testing.assert_array_equal(y[order], [1.0, 0.0])


def test_csv_accepts_exactly_max_rows() -> None:
    text = rows_csv("x1,x2,label", [(float(i), 0.0, float(i % 2)) for i in range(5)])
    assert load_csv(text, 5).n_train + load_csv(text, 5).n_test == 5


GOOD_HEADER = "x1,x2,label\n1,2,0\n"


@pytest.mark.parametrize(
    ("text", "max_rows", "message"),
    [
        ("", 10, r"^CSV is empty"),
        ("  \n\n", 10, r"^CSV is empty"),
        ("1,2,0\n3,4,1\n", 10, r"^CSV line 1: a header row is required, e\.g\. 'x1,x2,label'"),
        ("x1,x2\n1,2\n", 10, r"^CSV header: missing column\(s\) 'label'; expected x1, x2, label"),
        ("x2,label\n1,0\n", 10, r"^CSV header: missing column\(s\) 'x1'"),
        ("x1,x2,x3,label\n", 10, r"^CSV header: unknown column\(s\) 'x3'; expected x1, x2, label"),
        ("x1,x2,foo,bar,label\n", 10, r"^CSV header: unknown column\(s\) 'foo', 'bar'"),
        ("x1,x1,label\n", 10, r"^CSV header: duplicate column\(s\) 'x1'"),
        ("x1,x2,label,y\n", 10, r"^CSV header: both 'label' and 'y' given"),
        (GOOD_HEADER + "1,abc,1\n", 10, r"^CSV line 3, column 'x2': 'abc' is not a number$"),
        (GOOD_HEADER + "1,2,\n", 10, r"^CSV line 3, column 'label': '' is not a number$"),
        (GOOD_HEADER + "__import__('os'),2,1\n", 10, r"^CSV line 3, column 'x1': .* not a number"),
        (GOOD_HEADER + "1,nan,1\n", 10, r"^CSV line 3, column 'x2': 'nan' is not allowed \(NaN"),
        (GOOD_HEADER + "-inf,2,1\n", 10, r"^CSV line 3, column 'x1': '-inf' is not allowed"),
        (GOOD_HEADER + "1,2\n", 10, r"^CSV line 3: expected 3 fields \(x1, x2, label\), got 2$"),
        (GOOD_HEADER + "1,2,0,4\n", 10, r"^CSV line 3: expected 3 fields .*, got 4$"),
        (GOOD_HEADER + "1,2,1\n3,4,0\n", 2, r"^CSV has more than 2 data rows; the limit is 2$"),
        (GOOD_HEADER, 10, r"^CSV has 1 data row\(s\); need at least 2"),
        (GOOD_HEADER + "3,4,0\n", 10, r"^CSV column 'label': fewer than two classes \(every label"),
        ("x1,y\n1,0.5\n2,0.5\n", 10, r"^CSV column 'y': fewer than two classes"),
    ],
)
def test_csv_errors_name_the_problem(text: str, max_rows: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_csv(text, max_rows)


def test_a_huge_header_is_refused_in_one_pass_with_a_short_message() -> None:
    """40,000 column names (a hostile upload) are checked in linear time — counted once,
    not compared pairwise — and the message names a few of them, not all."""
    header = ",".join(["x1"] * 20_000 + [f"c{k}" for k in range(20_000)] + ["label"])
    with pytest.raises(ConfigError) as caught:
        load_csv(header + "\n1,2\n", 5000)
    message = str(caught.value)
    assert "duplicate column(s) 'x1'" in message
    assert len(message) < 300
    with pytest.raises(ConfigError, match=r"unknown column\(s\) 'c0', .* and 19995 more"):
        load_csv(",".join(["x1", "x2", "label", *(f"c{k}" for k in range(20_000))]) + "\n", 5000)
