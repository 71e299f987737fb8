"""How good are the work estimates? Estimated against measured seconds, side by side.

The server refuses or splits work by its estimated cost (:mod:`engine.cost`) before running
it. This prints, for a spread of networks from the smallest to the largest the limits allow,
the estimate and the measured time of a training step (with its full-data evaluation), of a
64×64 grid and of building the run (data, network, first evaluation), and their ratio
(measured ÷ estimated; min/median/max over repeats). A ratio between 0.5 and 2 is what a
budget needs.

Run: python -m benchmarks.cost_bench [--quick]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # the server runs BLAS on one thread

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from engine.config import NetworkConfig  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

CASES: list[tuple[str, int, int, str, int, int]] = [
    # name, depth, width, activation, samples, batch
    ("default 3×16 relu", 3, 16, "relu", 400, 16),
    ("2×8 tanh", 2, 8, "tanh", 500, 32),
    ("6×8 tanh, full batch", 6, 8, "tanh", 500, 500),
    ("10×16 sigmoid", 10, 16, "sigmoid", 500, 32),
    ("4×32 gelu", 4, 32, "gelu", 1000, 100),
    ("8×64 tanh, full batch", 8, 64, "tanh", 2000, 2000),
    ("16×64 tanh, batch 32", 16, 64, "tanh", 5000, 32),
    ("16×64 softplus, full batch", 16, 64, "softplus", 5000, 5000),
]


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ratios(measured: list[float], estimate: float) -> str:
    r = sorted(m / estimate for m in measured)
    return f"{r[0]:.2f}/{statistics.median(r):.2f}/{r[-1]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    head = f"{'case':30} {'step est':>10} {'meas÷est':>16} {'grid est':>10} {'meas÷est':>16}"
    print(f"{head} {'build est':>10} {'meas÷est':>16}")
    for name, depth, width, act, n, batch in CASES:
        config = NetworkConfig.from_dict(
            {
                "dataset": {"name": "circle", "n_samples": n},
                "layers": [{"units": width, "activation": act}] * depth,
                "batch_size": batch,
            }
        )
        trainer = Trainer(config)
        cost = trainer.cost
        trainer.train(1)
        steps = max(1, min(200, int(0.3 / cost.step_seconds)))
        estimate = cost.steps_seconds(steps) / steps  # evaluations as train() runs them
        step = [s / steps for s in timed(lambda: trainer.train(steps), repeats)]  # noqa: B023
        grid = timed(lambda: trainer.boundary(64), repeats)  # noqa: B023
        build = timed(lambda: Trainer(config), repeats)  # noqa: B023
        print(
            f"{name:30} {estimate * 1e3:8.2f}ms {ratios(step, estimate):>16}"
            f" {cost.grid_seconds(64) * 1e3:8.2f}ms {ratios(grid, cost.grid_seconds(64)):>16}"
            f" {cost.build_seconds * 1e3:8.2f}ms {ratios(build, cost.build_seconds):>16}"
        )


if __name__ == "__main__":
    main()
