"""Recurrent configs: validated like the dense config, errors naming the field path."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import (
    RECURRENT_LIVE_FIELDS,
    Limits,
    NetworkConfig,
    RecurrentConfig,
    SequenceConfig,
    config_from_dict,
    merge_config,
    recurrent_structural_fields_changed,
)
from engine.errors import ConfigError


def _from(patch: dict[str, Any]) -> RecurrentConfig:
    return RecurrentConfig.from_dict(merge_config(RecurrentConfig().to_dict(), patch))


def test_the_default_is_valid_and_round_trips_through_its_json_shape() -> None:
    cfg = RecurrentConfig()
    cfg.validate()
    data = cfg.to_dict()
    assert data["model"] == "recurrent"
    assert RecurrentConfig.from_dict(data) == cfg
    assert cfg.resolved_head == "last" and cfg.resolved_loss == "binary_cross_entropy"
    sine = _from({"dataset": {"name": "sine"}})
    assert sine.resolved_head == "every" and sine.resolved_loss == "mse"


def test_the_model_key_picks_the_config_class() -> None:
    assert isinstance(config_from_dict({}), NetworkConfig)
    assert isinstance(config_from_dict({"model": "dense", "seed": 3}), NetworkConfig)
    assert isinstance(config_from_dict({"model": "recurrent", "cell": "gru"}), RecurrentConfig)
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"model": "transformer"})
    assert caught.value.loc == ("model",)
    with pytest.raises(ConfigError) as caught:
        RecurrentConfig.from_dict({"model": "dense"})
    assert caught.value.loc == ("model",)


@pytest.mark.parametrize(
    ("patch", "loc", "message"),
    [
        ({"hidden": 0}, ("hidden",), "must be an integer in 1..64, got 0"),
        ({"hidden": 65}, ("hidden",), "must be an integer in 1..64, got 65"),
        ({"cell": "elman"}, ("cell",), "unknown 'elman'; valid: rnn, gru, lstm"),
        ({"cell": "lstm", "activation": "relu"}, ("activation",), "only the rnn cell"),
        ({"cell": "rnn", "activation": "sigmoid"}, ("activation",), "valid: tanh, relu, linear"),
        ({"dataset": {"length": 0}}, ("dataset", "length"), "must be an integer in 1..100"),
        ({"dataset": {"length": 101}}, ("dataset", "length"), "must be an integer in 1..100"),
        (
            {"dataset": {"name": "adding", "length": 1}},
            ("dataset", "length"),
            "must be an integer in 2..100",
        ),
        ({"dataset": {"n_samples": 5}}, ("dataset", "n_samples"), "10..1000"),
        ({"dataset": {"name": "copy"}}, ("dataset", "name"), "valid: delay, adding, sine"),
        ({"dataset": {"noise": 2}}, ("dataset", "noise"), "in [0, 1]"),
        ({"head": "every"}, ("head",), "'every' does not fit the delay task; valid: last"),
        ({"head": "sideways"}, ("head",), "valid: last, every"),
        ({"loss": "softmax_cross_entropy"}, ("loss",), "valid: binary_cross_entropy, mse"),
        (
            {"dataset": {"name": "adding"}, "loss": "binary_cross_entropy"},
            ("loss",),
            "valid: mse",
        ),
        ({"truncate": 0}, ("truncate",), "must be an integer in 1..20, got 0"),
        ({"truncate": 21}, ("truncate",), "must be an integer in 1..20, got 21"),
        ({"forget_bias": 6}, ("forget_bias",), "in [-5, 5]"),
        ({"recurrent_init": {"name": "eye"}}, ("recurrent_init", "name"), "unknown 'eye'"),
        ({"init": {"scale": -1}}, ("init", "scale"), "> 0"),
        ({"batch_size": 0}, ("batch_size",), "1..1000"),
        ({"learning_rate": 0}, ("learning_rate",), "(0, 100]"),
        ({"grad_clip": -1}, ("grad_clip",), "null (off)"),
        ({"optimizer": {"beta1": 1.0}}, ("optimizer", "beta1"), "[0, 1)"),
        ({"seed": -1}, ("seed",), "0..4294967295"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(
    patch: dict[str, Any], loc: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _from(patch).validate()
    assert caught.value.loc == loc, str(caught.value)
    assert message in caught.value.message


def test_unknown_keys_are_refused_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"^config: unknown key\(s\) 'layers'; valid: model"):
        RecurrentConfig.from_dict({"layers": []})
    with pytest.raises(ConfigError, match=r"^dataset: unknown key\(s\) 'features'"):
        RecurrentConfig.from_dict({"dataset": {"features": ["x1"]}})


def test_limits_bound_the_sizes() -> None:
    tight = Limits(max_hidden=8, max_sequence_length=10, max_sequences=100)
    RecurrentConfig(hidden=8, dataset=SequenceConfig(length=10, n_samples=100)).validate(tight)
    for cfg, loc in (
        (
            RecurrentConfig(hidden=9, dataset=SequenceConfig(length=10, n_samples=100)),
            ("hidden",),
        ),
        (RecurrentConfig(hidden=8, dataset=SequenceConfig(n_samples=100)), ("dataset", "length")),
        (
            RecurrentConfig(hidden=8, dataset=SequenceConfig(length=10, n_samples=101)),
            ("dataset", "n_samples"),
        ),
    ):
        with pytest.raises(ConfigError) as caught:
            cfg.validate(tight)
        assert caught.value.loc == loc


def test_live_changes_need_no_rebuild_and_structural_ones_are_named() -> None:
    cfg = RecurrentConfig()
    live = cfg.replace(learning_rate=0.1, truncate=5, grad_clip=1.0, batch_size=8)
    assert recurrent_structural_fields_changed(cfg, live) == []
    assert {"learning_rate", "truncate", "grad_clip", "batch_size"} <= set(RECURRENT_LIVE_FIELDS)
    rebuilt = cfg.replace(cell="gru", dataset=SequenceConfig(length=30), forget_bias=0.0)
    assert recurrent_structural_fields_changed(cfg, rebuilt) == [
        "dataset.length",
        "cell",
        "forget_bias",
    ]
