"""The binary export: bit for bit the JSON export's data, read back through the same checks."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine.config import DatasetConfig, NetworkConfig, OptimizerConfig
from engine.datasets import load_csv
from engine.errors import ConfigError
from engine.export import TrainerExport
from engine.export_binary import MAGIC, from_bytes, history_bytes, to_bytes
from engine.trainer import Trainer
from tests.engine.helpers import config
from tests.engine.test_export import CFG, POSITIONS, _at
from tests.engine.test_stepping import assert_same_run


def same_bits(a: object, b: object) -> bool:
    """Equal structure, and every array equal byte for byte (NaN payloads and signs too)."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.shape == b.shape
            and a.tobytes() == np.asarray(b, dtype=a.dtype).tobytes()
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_bits(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_bits, a, b))
    return a == b


def binary_roundtrip(t: Trainer) -> Trainer:
    return Trainer.restore(from_bytes(to_bytes(t.snapshot())))


@pytest.mark.parametrize("position", list(POSITIONS))
def test_binary_roundtrip_is_bit_exact_and_continues_identically(position: str) -> None:
    original = _at(POSITIONS[position])
    snap = original.snapshot()
    assert same_bits(snap.to_data(), from_bytes(to_bytes(snap)).to_data())
    copy = binary_roundtrip(original)
    assert copy.state() == original.state()
    for t in (original, copy):
        t.backward(1)
        t.train(7)
    assert_same_run(original, copy)


def test_binary_and_json_forms_hold_the_same_export() -> None:
    t = _at(POSITIONS["mid-backward"])
    from_json = TrainerExport.from_dict(json.loads(json.dumps(t.export())))
    assert same_bits(from_json.to_data(), from_bytes(to_bytes(t.snapshot())).to_data())


def test_non_finite_numbers_keep_their_exact_bits() -> None:
    """JSON can only say null; the binary form keeps NaN, +Inf and −Inf apart."""
    t = Trainer(config(dataset="plane", learning_rate=100.0, optimizer=OptimizerConfig("sgd")))
    t.train(200)
    assert t.divergence is not None and not np.isfinite(t.network.theta).all()
    snap = t.snapshot()
    back = from_bytes(to_bytes(snap))
    assert back.theta.tobytes() == snap.theta.tobytes()
    assert back.divergence == snap.divergence
    copy = Trainer.restore(back)
    for tr in (t, copy):
        tr.train(3)
    assert t.network.theta.tobytes() == copy.network.theta.tobytes()


@pytest.mark.parametrize("dataset", ["spiral3", "plane"])
def test_multiclass_and_regression_continue_identically(dataset: str) -> None:
    t = Trainer(config(dataset=dataset, batch_size=8))
    t.train(3)
    copy = binary_roundtrip(t)
    for tr in (t, copy):
        tr.train(4)
    assert_same_run(t, copy)


def test_uploaded_data_travels_with_integer_labels() -> None:
    rows = "\n".join(f"{x!r},{-x!r},{k % 3}" for k, x in enumerate(np.linspace(-2, 2, 30).tolist()))
    ds = load_csv("x1,x2,label\n" + rows, max_rows=100)
    t = Trainer(NetworkConfig(dataset=DatasetConfig(name="csv"), batch_size=8), dataset=ds)
    t.train(2)
    copy = binary_roundtrip(t)
    assert np.array_equal(copy.dataset.x_train, ds.x_train)
    assert np.array_equal(copy.dataset.y_train, ds.y_train) and copy.dataset.n_classes == 3
    for tr in (t, copy):
        tr.train(3)
    assert_same_run(t, copy)


def header_of(blob: bytes) -> tuple[dict[str, Any], bytes]:
    (length,) = struct.unpack_from("<I", blob, 6)
    return json.loads(blob[10 : 10 + length]), blob[10 + length :]


def with_header(header: dict[str, Any], payload: bytes) -> bytes:
    text = json.dumps(header).encode()
    return MAGIC + struct.pack("<HI", 1, len(text)) + text + payload


def trained_blob() -> bytes:
    t = Trainer(CFG)
    t.train(2)
    return to_bytes(t.snapshot())


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(header: dict[str, Any]) -> None:
        target = header["data"]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda b: b[:3], "too short"),
        (lambda b: b"PK\x03\x04" + b[4:], "not a Backprop Lab binary export"),
        (lambda b: b[:20], "cut short inside its header"),
        (lambda b: b[:-8], "cut short: its bytes are missing"),
        (lambda b: b + b"\x00", "1 bytes follow its last array"),
    ],
)
def test_damaged_bytes_are_refused_naming_the_problem(
    damage: Callable[[bytes], bytes], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_bytes(damage(trained_blob()))
    assert caught.value.loc[0] == "binary" and problem in caught.value.message


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (_set(("step",), True), ("step",)),
        (_set(("stage",), {"kind": "forward", "layer": 9}), ("stage", "layer")),
        (_set(("config", "learning_rate"), -1), ("config", "learning_rate")),
        (_set(("weights",), []), ("weights",)),
        (_set(("permutation",), {"$array": 99}), ("binary",)),
        (lambda h: h["arrays"].__setitem__(0, ["|O", [1]]), ("binary", "arrays", 0)),
    ],
)
def test_a_forged_header_is_refused_by_the_same_checks_as_json(
    mutate: Callable[[dict[str, Any]], None], loc: tuple[str | int, ...]
) -> None:
    header, payload = header_of(trained_blob())
    mutate(header)
    with pytest.raises(ConfigError) as caught:
        from_bytes(with_header(header, payload))
    assert caught.value.loc == loc, str(caught.value)


def test_a_wrong_array_shape_is_caught_by_the_export_checks() -> None:
    """Arrays that frame correctly but do not fit the network: from_dict names the field."""
    header, payload = header_of(trained_blob())
    first = header["data"]["weights"][0]["$array"]
    dtype, shape = header["arrays"][first]
    header["arrays"][first] = [dtype, [shape[0] * shape[1]]]  # same bytes, flattened
    with pytest.raises(ConfigError) as caught:
        from_bytes(with_header(header, payload))
    assert caught.value.loc == ("weights", 0)


def test_history_in_pieces_reads_back_as_one_history() -> None:
    """The store keeps the rows of a long history as pieces appended save after save."""
    t = Trainer(CFG)
    t.train(30)
    state = to_bytes(t.snapshot(), history=False)
    # The store's snapshot copies no rows, and writes the same bytes.
    assert to_bytes(t.snapshot(rows=False), history=False) == state
    assert len(state) < len(to_bytes(t.snapshot()))
    pieces = [history_bytes(t.history, a, b) for a, b in ((0, 7), (7, 7), (7, 30))]
    back = from_bytes(state, None, pieces)
    assert same_bits(back.to_data(), t.snapshot().to_data())
    copy = Trainer.restore(back)
    for tr in (t, copy):
        tr.train(5)
    assert_same_run(t, copy)


@pytest.mark.parametrize(
    ("pieces", "problem"),
    [
        (lambda h: [h[0], h[0]], "history.step: must increase strictly"),
        (lambda h: [h[1][:-3]], "cut short"),
        (lambda h: [b"BPLX" + h[1][4:]], "not a Backprop Lab binary history piece 0"),
        (lambda h: [], "no history pieces"),
    ],
)
def test_damaged_history_pieces_are_refused(
    pieces: Callable[[list[bytes]], list[bytes]], problem: str
) -> None:
    t = Trainer(CFG)
    t.train(4)
    state = to_bytes(t.snapshot(), history=False)
    whole = [history_bytes(t.history, 0, 2), history_bytes(t.history, 0)]
    with pytest.raises(ConfigError) as caught:
        from_bytes(state, None, pieces(whole))
    assert problem in str(caught.value)
