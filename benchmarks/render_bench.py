"""Render benchmark: engine result → JSON bytes, per kind of answer, in ms.

Measures what a worker thread does after the engine has computed: building the response
model from the engine's result and rendering it (``TraceModel.from_engine`` + ``render``…),
for the default network (3×16 relu) and the largest (16×64 tanh), each after 30 steps and a
whole staged step (every array present). Frames include their engine work (trace, boundary).

``--against REV`` also loads the ``app/`` package of an older git revision (one from before
the models were built from engine results: it has ``app/schemas.py`` with ``trace_json``…)
and times both, alternately, so that the machine's load drifts over both alike; it prints
min and median of each and the ratio of the medians.

Run: python -m benchmarks.render_bench [--repeats 60] [--against REV]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import LayerConfig, NetworkConfig  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

Cases = dict[str, Callable[[], bytes | str]]


def trainers() -> dict[str, Trainer]:
    default = Trainer(NetworkConfig())
    largest = Trainer(NetworkConfig(layers=tuple(LayerConfig(64, "tanh") for _ in range(16))))
    for trainer in (default, largest):
        trainer.train(30)
        trainer.update()  # a whole staged step: every array present, dW_update too
    return {"default": default, "16x64": largest}


def load(name: str, path: Path | None = None) -> ModuleType:
    """``app.<name>`` from the working tree, or from ``path`` (an older tree's parent dir)."""
    for module in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
        del sys.modules[module]
    if path is not None:
        sys.path.insert(0, str(path))
    try:
        return importlib.import_module(f"app.{name}")
    finally:
        if path is not None:
            sys.path.remove(str(path))


def current_cases(ts: dict[str, Trainer]) -> Cases:
    ops = load("operations")
    wire = importlib.import_module("app.schemas.wire")
    trace = importlib.import_module("app.schemas.trace")
    boundary = importlib.import_module("app.schemas.boundary")
    cases: Cases = {}
    for name, t in ts.items():
        step_trace, grid = t.trace(0), t.boundary(64 if name == "default" else 32)
        for detail in ("summary", "full"):
            cases[f"trace {detail} {name}"] = lambda st=step_trace, d=detail: wire.render(
                trace.TraceModel.from_engine(st, False, d, 2_000_000)
            )
        cases[f"boundary {grid.grid} {name}"] = lambda g=grid: wire.render(
            boundary.BoundaryModel.from_engine(g, False)
        )
        cases[f"frame {name} (with engine)"] = lambda t=t: wire.render(
            ops.frame(t, 0, "step", False, False, 32, 10, 2_000_000)
        )
        cases[f"export {name}"] = lambda t=t: wire.render(t.export())
    return cases


def old_cases(ts: dict[str, Trainer], tree: Path) -> Cases:
    """The same payloads through the dict builders of ``app/schemas.py`` before this change."""
    ops, schemas = load("operations", tree), load("schemas", tree)
    cases: Cases = {}
    for name, t in ts.items():
        step_trace, grid = t.trace(0), t.boundary(64 if name == "default" else 32)
        for detail in ("summary", "full"):
            cases[f"trace {detail} {name}"] = lambda st=step_trace, d=detail: schemas.json_bytes(
                schemas.trace_json(st, False, d, 2_000_000)
            )
        cases[f"boundary {grid.grid} {name}"] = lambda g=grid, t=t: schemas.json_bytes(
            schemas.boundary_json(g, t.dataset.task, False)
        )
        cases[f"frame {name} (with engine)"] = lambda t=t: schemas.dumps(
            ops.frame(t, 0, "step", False, False, 32, 10, 2_000_000, True)
        )
        cases[f"export {name}"] = lambda t=t: schemas.json_bytes(schemas.json_safe(t.export()))
    return cases


def timed(cases: list[Callable[[], Any]], repeats: int) -> list[list[float]]:
    """Each callable ``repeats`` times, round-robin; ms per call."""
    for case in cases:
        case()
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for case, out in zip(cases, times, strict=True):
            t0 = time.perf_counter()
            case()
            out.append((time.perf_counter() - t0) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--against", metavar="REV", help="an older revision to compare with")
    args = parser.parse_args()
    ts = trainers()
    with tempfile.TemporaryDirectory() as tmp:
        old: Cases | None = None
        if args.against:
            archive = subprocess.run(
                ["git", "archive", args.against, "app"], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            old = old_cases(ts, Path(tmp))
        new = current_cases(ts)
    print(f"{'answer':28} {'min':>7} {'median':>7}", end="")
    print(f" {'old min':>8} {'old med':>8} {'new/old':>8}" if old else "", "   bytes")
    for key, case in new.items():
        runs = [case] if old is None else [case, old[key]]
        times = timed(runs, args.repeats)
        size = len(case())
        line = f"{key:28} {min(times[0]):7.2f} {statistics.median(times[0]):7.2f}"
        if old is not None:
            ratio = statistics.median(times[0]) / statistics.median(times[1])
            line += f" {min(times[1]):8.2f} {statistics.median(times[1]):8.2f} {ratio:8.2f}"
            assert len(old[key]()) == size, f"{key}: the old path writes other bytes"
        print(line, f"{size:>10}")


if __name__ == "__main__":
    main()
