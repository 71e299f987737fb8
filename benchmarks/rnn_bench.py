"""Recurrent benchmark: µs per BPTT training step, beside PyTorch, in one run.

Each cell (rnn with tanh, gru, lstm) at hidden 16 and 64 and sequence length 20 and 100, on a
batch of 32 sequences of the delay task (2 input features, one logit read at the last step),
float64, one thread.

- **engine**: ``RecurrentTrainer.train(n, evaluate_every=0)``: per step forward through T
  timesteps, the loss, backward through T timesteps (full BPTT), the Adam step, and the
  history row (minibatch loss, ‖∂L/∂θ‖, per block ‖dW‖ and update ratio, ‖∂L/∂h_t‖ for every
  t). ``train`` evaluates the full data once after its last step: the task has 64 sequences
  (32 train, 32 test, so every step trains on the same full batch of 32), so that evaluation
  costs about two thirds of one step and at most a few per cent of a timed run of n ≥ 20
  steps; it is included in the engine's figure.
- **PyTorch** (when installed; optional, never a dependency): ``nn.RNN(nonlinearity="tanh")``,
  ``nn.GRU`` or ``nn.LSTM`` and an ``nn.Linear`` head on the last step, the same loss
  (binary cross-entropy from the logit) and optimiser (Adam, lr 0.01) on the same batch of 32
  sequences: ``zero_grad``, forward, loss, ``backward``, ``step``. The same
  work up to the cells' variants: PyTorch's GRU applies its reset gate after the recurrent
  product and its cells have two bias vectors (b_ih, b_hh); the engine's GRU is Cho et al.'s
  and has one.

Repeats are paired: each repeat times the engine, then PyTorch, back to back, so both see the
same load on a shared machine. Figures: min/median/max over the repeats of µs per step, and
of the ratio PyTorch ÷ engine (> 1: the engine is faster), taken pair by pair.

``--cost`` prints instead how good the work estimates of :mod:`engine.cost` are for recurrent
runs: estimated and measured seconds of a training step (its share of the one evaluation
``train`` runs after its last step included), of the full-data evaluation and of a full
trace, and measured ÷ estimated (min/median/max over
repeats), for a spread of runs from the smallest to the largest the limits allow. A ratio
between 0.5 and 2 is what a budget needs.

Run: python -m benchmarks.rnn_bench [--quick] [--repeats N] [--cost]
"""

from __future__ import annotations

import os

# One thread for BLAS too (before NumPy loads it): PyTorch is timed on one thread.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

from engine.config import OptimizerConfig, RecurrentConfig, SequenceConfig  # noqa: E402
from engine.recurrent_evaluation import time_major  # noqa: E402
from engine.recurrent_trainer import RecurrentTrainer  # noqa: E402

CELLS = ("rnn", "gru", "lstm")
SIZES = ((16, 20), (16, 100), (64, 20), (64, 100))  # (hidden, length)
BATCH = 32
TARGET_SECONDS = 0.15  # per timed run


def make_config(cell: str, hidden: int, length: int, n_samples: int = 64) -> RecurrentConfig:
    return RecurrentConfig(
        dataset=SequenceConfig(name="delay", length=length, n_samples=n_samples),
        cell=cell,
        hidden=hidden,
        batch_size=BATCH,
        optimizer=OptimizerConfig("adam"),
        learning_rate=0.01,
    )


def engine_runner(cell: str, hidden: int, length: int) -> tuple[Callable[[int], float], list]:
    """A function timing n engine steps, and the batch PyTorch trains on: the same one."""
    t = RecurrentTrainer(make_config(cell, hidden, length))
    t.train(3, evaluate_every=0)  # warm-up

    def run(n: int) -> float:
        start = time.perf_counter()
        t.train(n, evaluate_every=0)
        return time.perf_counter() - start

    ds = t.dataset  # 32 training sequences: one full batch, for both
    data = [(time_major(ds.x_train), ds.y_train[:, -1:])]
    return run, data


def torch_runner(cell: str, hidden: int, data: list) -> Callable[[int], float]:
    import torch as th

    th.set_num_threads(1)
    kind = {"rnn": th.nn.RNN, "gru": th.nn.GRU, "lstm": th.nn.LSTM}[cell]
    n_inputs = data[0][0].shape[2]
    extra = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    recurrent = kind(n_inputs, hidden, **extra).double()
    head = th.nn.Linear(hidden, 1).double()
    params = [*recurrent.parameters(), *head.parameters()]
    opt = th.optim.Adam(params, lr=0.01)
    loss_fn = th.nn.BCEWithLogitsLoss()
    tensors = [(th.from_numpy(x), th.from_numpy(y)) for x, y in data]
    position = [0]

    def step() -> None:
        x, y = tensors[position[0] % len(tensors)]
        position[0] += 1
        opt.zero_grad()
        out, _ = recurrent(x)
        loss = loss_fn(head(out[-1]), y)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up
        step()

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            step()
        return time.perf_counter() - start

    return run


def per_step_us(run: Callable[[int], float], n: int) -> float:
    return run(n) / n * 1e6


def spread(values: list[float], fmt: str) -> str:
    v = sorted(values)
    return "/".join(format(x, fmt) for x in (v[0], statistics.median(v), v[-1]))


COST_CASES = (
    # cell, hidden, length, sequences, batch
    ("rnn", 4, 5, 100, 8),
    ("rnn", 16, 20, 400, 32),
    ("gru", 16, 20, 400, 32),
    ("lstm", 16, 20, 400, 32),
    ("lstm", 32, 50, 400, 32),
    ("rnn", 64, 100, 1000, 32),
    ("gru", 64, 100, 1000, 128),
    ("lstm", 64, 100, 1000, 1000),
)


def cost_table(repeats: int) -> None:
    print(
        f"{'cell':5} {'H':>3} {'T':>4} {'N':>5} {'B':>5} {'step est':>10} {'meas÷est':>16}"
        f" {'eval est':>10} {'meas÷est':>16} {'trace est':>10} {'meas÷est':>16}"
    )
    for cell, hidden, length, n, batch in COST_CASES:
        cfg = make_config(cell, hidden, length, n).replace(batch_size=batch)
        t = RecurrentTrainer(cfg)
        cost = t.cost
        t.train(1, evaluate_every=0)
        steps = max(1, min(100, int(0.3 / cost.train_seconds)))

        def run(k: int, t: RecurrentTrainer = t) -> float:
            start = time.perf_counter()
            t.train(k, evaluate_every=0)  # k steps and one evaluation after the last
            return time.perf_counter() - start

        step = [per_step_us(run, steps) for _ in range(repeats)]
        evaluation = []
        for _ in range(repeats):
            start = time.perf_counter()
            t.eval_set.evaluate(t.network)
            evaluation.append((time.perf_counter() - start) * 1e6)
        trace = []
        for _ in range(repeats):
            start = time.perf_counter()
            t.trace()
            trace.append((time.perf_counter() - start) * 1e6)
        eval_us = cost.evaluation_seconds * 1e6
        train_us = cost.train_seconds * 1e6 + eval_us / steps  # as train(steps) runs them
        trace_us = cost.shape.trace_seconds(t.batch_size) * 1e6
        print(
            f"{cell:5} {hidden:>3} {length:>4} {n:>5} {batch:>5} {train_us / 1e3:8.2f}ms"
            f" {spread([m / train_us for m in step], '.2f'):>16}"
            f" {eval_us / 1e3:8.2f}ms {spread([m / eval_us for m in evaluation], '.2f'):>16}"
            f" {trace_us / 1e3:8.2f}ms {spread([m / trace_us for m in trace], '.2f'):>16}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 repeats and hidden 16 only")
    parser.add_argument("--repeats", type=int, default=None, help="paired repeats (default 7)")
    parser.add_argument("--cost", action="store_true", help="work estimates against measurement")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    if args.cost:
        cost_table(repeats)
        return
    sizes = [s for s in SIZES if s[0] == 16] if args.quick else list(SIZES)
    try:
        import torch  # noqa: F401
    except ImportError:  # PyTorch is optional
        have_torch = False
        print("PyTorch is not installed: engine figures only.")
    else:
        have_torch = True
    print(
        f"µs per BPTT training step, batch {BATCH}, float64, one thread; "
        f"min/median/max over {repeats} paired repeats"
    )
    print(
        f"{'cell':5} {'H':>3} {'T':>4} {'engine µs':>22} {'PyTorch µs':>22} "
        f"{'PyTorch ÷ engine':>19}"
    )
    for hidden, length in sizes:
        for cell in CELLS:
            engine, data = engine_runner(cell, hidden, length)
            baseline = torch_runner(cell, hidden, data) if have_torch else None
            n = max(20, int(TARGET_SECONDS / (per_step_us(engine, 2) * 1e-6)))
            ours, theirs = [], []
            for _ in range(repeats):
                ours.append(per_step_us(engine, n))
                if baseline is not None:
                    theirs.append(per_step_us(baseline, n))
            row = f"{cell:5} {hidden:>3} {length:>4} {spread(ours, '.0f'):>22}"
            if theirs:
                ratios = [b / a for a, b in zip(ours, theirs, strict=True)]
                row += f" {spread(theirs, '.0f'):>22} {spread(ratios, '.2f'):>19}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
