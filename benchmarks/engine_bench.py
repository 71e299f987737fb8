"""Engine benchmark: µs per training step, side by side with PyTorch, in one run.

Nets [2,8,8,1], [2,8,8,8,8,8,8,1] and [2,16×10,1] (tanh hidden layers, Adam, Xavier init)
on the 500-point circle dataset (250 train / 250 test) at batch 32 and at full batch (250).

Two kinds of step are timed, each beside PyTorch doing the same work on one thread (float64,
Adam, BCE-with-logits, the same minibatch schedule):

- **train step**: forward, loss, backward and the optimiser step, plus the per-step history
  row (minibatch loss, ‖dW‖, mean |dz|, update ratio); the full-data evaluation is left to
  the end of the run (``evaluate_every=0``), as live training does once per frame.
  PyTorch: ``zero_grad``, forward, loss, ``backward``, ``step``.
- **evaluated step**: a train step plus loss and accuracy on the full train and test sets
  after every step (the engine's behaviour before evaluation was decoupled).

Also: the cost of one full ``Trainer.trace()`` in train steps, and a 64×64 grid evaluation.
Ratios are PyTorch time ÷ engine time (> 1: the engine is faster); every figure is the best
of the repeats, and each ratio also shows min/median/max over the repeats, paired run by run.

Run: python -m benchmarks.engine_bench [--quick]
"""

from __future__ import annotations

import os

# One thread for BLAS too (before NumPy loads it): PyTorch is timed on one thread, and on a
# busy two-core machine OpenBLAS's worker threads only add contention for these small sizes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from engine.config import DatasetConfig, LayerConfig, NetworkConfig, OptimizerConfig  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

NETS: dict[str, list[int]] = {
    "[2,8,8,1]": [8, 8],
    "[2,8,8,8,8,8,8,1]": [8] * 6,
    "[2,16x10,1]": [16] * 10,
}
N_POINTS = 500


def make_config(hidden: list[int], batch: int) -> NetworkConfig:
    return NetworkConfig(
        dataset=DatasetConfig(name="circle", n_samples=N_POINTS, train_fraction=0.5),
        layers=tuple(LayerConfig(u, "tanh") for u in hidden),
        optimizer=OptimizerConfig("adam"),
        learning_rate=0.01,
        batch_size=batch,
    )


def engine_steps(
    hidden: list[int], batch: int, steps: int, evaluate: bool, trace: bool = False
) -> Callable[[], object]:
    t = Trainer(make_config(hidden, batch))
    t.train(20)  # warm-up
    every = 1 if evaluate else 0

    def run() -> None:
        if trace:
            for _ in range(steps):
                t.train(1, evaluate_every=0)
                t.trace()
        else:
            t.train(steps, evaluate_every=every)

    return run


def grid_us(hidden: list[int], grid: int = 64) -> float:
    t = Trainer(make_config(hidden, 32))
    t.boundary(grid)
    return min(timed(lambda: t.boundary(grid), 20)) * 1e6


def torch_steps(
    hidden: list[int], batch: int, steps: int, evaluate: bool
) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t = Trainer(make_config(hidden, batch))
    n_train = t.eval_set.n_train
    x_tr = torch.tensor(t.x_train)
    y_tr = torch.tensor(t.t_train)
    x_te = torch.tensor(t.eval_set.x[n_train:])
    y_te = torch.tensor(t.eval_set.targets[n_train:])
    sizes = [x_tr.shape[1], *hidden, 1]
    mods: list[torch.nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        mods.append(torch.nn.Linear(n_in, n_out, dtype=torch.float64))
        mods.append(torch.nn.Tanh())
    model = torch.nn.Sequential(*mods[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    n = x_tr.shape[0]
    B = min(batch, n)
    rng = np.random.default_rng(0)
    perm = [torch.tensor(rng.permutation(n))]
    cursor = [0]

    def one_step() -> None:
        if n <= B:
            xb, yb = x_tr, y_tr
        else:
            if cursor[0] >= n:
                perm[0], cursor[0] = torch.tensor(rng.permutation(n)), 0
            idx = perm[0][cursor[0] : cursor[0] + B]
            cursor[0] += B
            xb, yb = x_tr[idx], y_tr[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        if evaluate:
            with torch.no_grad():
                for x, y in ((x_tr, y_tr), (x_te, y_te)):
                    logits = model(x)
                    float(loss_fn(logits, y))
                    float(((logits > 0).to(y.dtype) == y).to(torch.float64).mean())

    for _ in range(20):
        one_step()

    def run() -> None:
        for _ in range(steps):
            one_step()

    return run


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall time of each of ``repeats`` calls, in seconds."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def paired(
    engine: Callable[[], object], torch: Callable[[], object] | None, repeats: int, steps: int
) -> tuple[float, float | None, str]:
    """Best µs per step of each, and the ratio torch ÷ engine as min/median/max over the
    repeats, each repeat timing the engine and PyTorch back to back (so a noisy moment of the
    machine hits both)."""
    eng, tor = [], []
    for _ in range(repeats):
        eng += timed(engine, 1)
        if torch is not None:
            tor += timed(torch, 1)
    best = min(eng) / steps * 1e6
    if torch is None:
        return best, None, "n/a"
    ratios = sorted(t / e for t, e in zip(tor, eng, strict=True))
    spread = f"{ratios[0]:.1f}/{statistics.median(ratios):.1f}/{ratios[-1]:.1f}"
    return best, min(tor) / steps * 1e6, spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier figures)")
    args = parser.parse_args()
    steps, repeats = (50, 5) if args.quick else (100, 15)
    print(
        f"{N_POINTS} points (250 train / 250 test), tanh, Adam; "
        f"best of {repeats} runs of {steps} steps; ratio = PyTorch ÷ engine (min/median/max)"
    )
    header = (
        f"{'net':<20}{'batch':>6}{'train µs':>10}{'torch µs':>10}{'ratio':>15}"
        f"{'eval. µs':>10}{'torch µs':>10}{'ratio':>15}{'trace/step':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, hidden in NETS.items():
        for batch, label in ((32, "32"), (N_POINTS, "full")):
            train, torch_train, train_ratio = paired(
                engine_steps(hidden, batch, steps, evaluate=False),
                torch_steps(hidden, batch, steps, evaluate=False),
                repeats,
                steps,
            )
            evaluated, torch_eval, eval_ratio = paired(
                engine_steps(hidden, batch, steps, evaluate=True),
                torch_steps(hidden, batch, steps, evaluate=True),
                repeats,
                steps,
            )
            traced = min(timed(engine_steps(hidden, batch, steps // 2, False, True), repeats))
            trace_cost = (traced / (steps // 2) * 1e6 - train) / train
            print(
                f"{name:<20}{label:>6}{train:>10.0f}{_us(torch_train):>10}{train_ratio:>15}"
                f"{evaluated:>10.0f}{_us(torch_eval):>10}{eval_ratio:>15}{trace_cost:>11.2f}"
            )
    print()
    print("train = forward, loss, backward, update (+ the history row); eval. = the same plus")
    print("loss and accuracy on the full train and test sets after every step.")
    print("trace/step = the cost of one full Trainer.trace(), in train steps.")
    for name, hidden in NETS.items():
        print(f"64×64 grid evaluation {name}: {grid_us(hidden):.0f} µs")


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    main()
