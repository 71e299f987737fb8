"""Engine benchmark: µs per fast training step, with and without a full trace per step.

Nets [2,8,8,1], [2,8,8,8,8,8,8,1] and [2,16×10,1] (tanh hidden layers, Adam, Xavier init)
on the 500-point circle dataset (250 train / 250 test) at batch 32 and at full batch (250).
A fast step is one minibatch forward/backward/update plus the per-step history record, which
evaluates loss and accuracy on the full train and test sets. "trace on" = a fast step plus one
full ``Trainer.trace()`` per step. Also times a 64×64 grid evaluation (``Trainer.boundary``).

If PyTorch is importable, the same nets run in PyTorch on one thread (float64, Adam,
BCE-with-logits, the same minibatch schedule) with the same per-step work: one training step
plus loss and accuracy on the full train and test sets (no_grad). The ratio printed is
PyTorch time / engine time (> 1 means the engine is faster).

Run: python benchmarks/engine_bench.py [--quick]
"""

from __future__ import annotations

import os

# One thread for BLAS too (before NumPy loads it): PyTorch is timed on one thread, and on a
# busy two-core machine OpenBLAS's worker threads only add contention for these small sizes.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
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


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def engine_step_us(hidden: list[int], batch: int, steps: int, trace: bool, repeats: int) -> float:
    t = Trainer(make_config(hidden, batch))
    t.train(20)  # warm-up

    def run() -> None:
        if trace:
            for _ in range(steps):
                t.train(1)
                t.trace()
        else:
            t.train(steps)

    return best_of(run, repeats) / steps * 1e6


def eval_us(hidden: list[int], repeats: int) -> float:
    """The full train+test evaluation that every fast step includes (one forward pass)."""
    t = Trainer(make_config(hidden, 32))

    def run() -> None:
        for _ in range(50):
            t._evaluate()

    return best_of(run, repeats) / 50 * 1e6


def grid_us(hidden: list[int], grid: int = 64) -> float:
    t = Trainer(make_config(hidden, 32))
    t.boundary(grid)
    return best_of(lambda: t.boundary(grid), 20) * 1e6


def torch_step_us(hidden: list[int], batch: int, steps: int, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t = Trainer(make_config(hidden, batch))
    x_tr = torch.tensor(t.x_train)
    y_tr = torch.tensor(t.t_train)
    x_te = torch.tensor(t.x_test)
    y_te = torch.tensor(t.t_test)
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

    return best_of(run, repeats) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier figures)")
    args = parser.parse_args()
    steps, repeats = (50, 5) if args.quick else (100, 15)
    print(
        f"{N_POINTS} points (250 train / 250 test), tanh, Adam; "
        f"best of {repeats} runs of {steps} steps"
    )
    header = (
        f"{'net':<20}{'batch':>6}{'fast µs':>10}{'steps/s':>10}{'eval µs':>9}{'trace µs':>10}"
        f"{'trace/fast':>11}{'torch µs':>10}{'torch/eng':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, hidden in NETS.items():
        for batch, label in ((32, "32"), (N_POINTS, "full")):
            fast = engine_step_us(hidden, batch, steps, False, repeats)
            traced = engine_step_us(hidden, batch, steps // 2, True, repeats)
            torch_us = torch_step_us(hidden, batch, steps, repeats)
            evaluation = eval_us(hidden, repeats)
            extra = (traced - fast) / fast
            tcol = "n/a" if torch_us is None else f"{torch_us:.0f}"
            rcol = "n/a" if torch_us is None else f"{torch_us / fast:.2f}x"
            print(
                f"{name:<20}{label:>6}{fast:>10.0f}{1e6 / fast:>10.0f}{evaluation:>9.0f}"
                f"{traced:>10.0f}"
                f"{extra:>11.2f}{tcol:>10}{rcol:>10}"
            )
    print()
    print("eval = the full train+test loss/accuracy evaluation included in every fast step.")
    print("trace/fast = (trace-on step − fast step) / fast step: the cost of one full trace")
    print("in fast steps.")
    for name, hidden in NETS.items():
        print(f"64×64 grid evaluation {name}: {grid_us(hidden):.0f} µs")


if __name__ == "__main__":
    main()
