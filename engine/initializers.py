"""Weight initialisers: ``fn(rng, n_in, n_out, scale) -> W`` of shape ``(n_in, n_out)``.

Each takes an explicit ``np.random.Generator`` (never the global one). ``scale=None`` means
the initialiser's default. For the variance-scaling schemes (xavier_*, he_*, lecun_normal,
orthogonal) ``scale`` is a multiplier (gain) on the standard recipe; for ``uniform`` it is the
bound ``s`` in U(−s, s); for ``normal`` it is σ; for ``constant`` it is the value.
Biases always start at zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class InitFn(Protocol):
    def __call__(
        self, rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
    ) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class Initializer:
    """One initialiser. ``uses_scale`` says whether ``scale`` changes anything."""

    name: str
    fn: InitFn
    description: str
    uses_scale: bool
    default_scale: float | None = None


def _s(scale: float | None, default: float) -> float:
    return default if scale is None else float(scale)


def zeros(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return np.zeros((n_in, n_out))


def constant(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return np.full((n_in, n_out), _s(scale, 0.1))


def uniform(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    s = _s(scale, 0.5)
    return rng.uniform(-s, s, size=(n_in, n_out))


def normal(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return rng.normal(0.0, _s(scale, 0.1), size=(n_in, n_out))


def xavier_uniform(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    s = _s(scale, 1.0) * np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-s, s, size=(n_in, n_out))


def xavier_normal(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return rng.normal(0.0, _s(scale, 1.0) * np.sqrt(2.0 / (n_in + n_out)), size=(n_in, n_out))


def he_uniform(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    s = _s(scale, 1.0) * np.sqrt(6.0 / n_in)
    return rng.uniform(-s, s, size=(n_in, n_out))


def he_normal(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return rng.normal(0.0, _s(scale, 1.0) * np.sqrt(2.0 / n_in), size=(n_in, n_out))


def lecun_normal(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    return rng.normal(0.0, _s(scale, 1.0) * np.sqrt(1.0 / n_in), size=(n_in, n_out))


def orthogonal(
    rng: np.random.Generator, n_in: int, n_out: int, scale: float | None = None
) -> FloatArray:
    # QR of a Gaussian matrix; the sign fix makes Q uniformly (Haar) distributed.
    big, small = max(n_in, n_out), min(n_in, n_out)
    q, r = np.linalg.qr(rng.normal(size=(big, small)))
    q = q * np.sign(np.where(np.diag(r) == 0.0, 1.0, np.diag(r)))
    w = q if n_in >= n_out else q.T
    return _s(scale, 1.0) * np.ascontiguousarray(w)


INITIALIZERS: dict[str, Initializer] = {
    i.name: i
    for i in (
        Initializer("zeros", zeros, "W = 0 (every unit identical: symmetry never breaks)", False),
        Initializer("constant", constant, "W = c, c = scale (default 0.1)", True, 0.1),
        Initializer("uniform", uniform, "W ~ U(−s, s), s = scale (default 0.5)", True, 0.5),
        Initializer("normal", normal, "W ~ N(0, σ²), σ = scale (default 0.1)", True, 0.1),
        Initializer(
            "xavier_uniform",
            xavier_uniform,
            "W ~ U(−g·√(6/(n_in+n_out)), +g·√(6/(n_in+n_out))), gain g = scale (default 1)",
            True,
            1.0,
        ),
        Initializer(
            "xavier_normal",
            xavier_normal,
            "W ~ N(0, g²·2/(n_in+n_out)), gain g = scale (default 1)",
            True,
            1.0,
        ),
        Initializer(
            "he_uniform",
            he_uniform,
            "W ~ U(−g·√(6/n_in), +g·√(6/n_in)), gain g = scale (default 1)",
            True,
            1.0,
        ),
        Initializer(
            "he_normal", he_normal, "W ~ N(0, g²·2/n_in), gain g = scale (default 1)", True, 1.0
        ),
        Initializer(
            "lecun_normal",
            lecun_normal,
            "W ~ N(0, g²/n_in), gain g = scale (default 1)",
            True,
            1.0,
        ),
        Initializer(
            "orthogonal",
            orthogonal,
            "W = g·Q, Q with orthonormal rows or columns (QR of a Gaussian), g = scale (default 1)",
            True,
            1.0,
        ),
    )
}
