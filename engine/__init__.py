"""Backprop Lab engine: a NumPy backpropagation engine with staged stepping and traces.

Usable on its own, e.g. from a notebook::

    from engine import NetworkConfig, Trainer
    t = Trainer(NetworkConfig())
    t.train(500)
    t.state().test_accuracy
"""

from engine.activations import ACTIVATIONS, Activation, get_activation
from engine.config import (
    DatasetConfig,
    InitConfig,
    LayerConfig,
    Limits,
    NetworkConfig,
    OptimizerConfig,
)
from engine.datasets import DATASETS, FEATURES, Dataset, load_csv, make_dataset
from engine.diagnostics import ChainRule, GradientCheck, LayerGradientCheck, gradient_check
from engine.history import History, HistorySlice
from engine.initializers import INITIALIZERS, Initializer
from engine.layers import DenseCache, DenseGrads, dense_backward, dense_forward
from engine.losses import LOSSES, TASK_LOSSES, Loss, default_loss, output_head
from engine.network import Network
from engine.optimizers import OPTIMIZERS, Optimizer
from engine.stepper import Divergence, Stage
from engine.trace import FlowFactor, LayerTrace, StepTrace, Summary
from engine.trainer import BoundaryGrid, Trainer, TrainerState

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "FEATURES",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "TASK_LOSSES",
    "Activation",
    "BoundaryGrid",
    "ChainRule",
    "Dataset",
    "DatasetConfig",
    "DenseCache",
    "DenseGrads",
    "Divergence",
    "FlowFactor",
    "GradientCheck",
    "History",
    "HistorySlice",
    "InitConfig",
    "Initializer",
    "LayerConfig",
    "LayerGradientCheck",
    "LayerTrace",
    "Limits",
    "Loss",
    "Network",
    "NetworkConfig",
    "Optimizer",
    "OptimizerConfig",
    "Stage",
    "StepTrace",
    "Summary",
    "Trainer",
    "TrainerState",
    "default_loss",
    "dense_backward",
    "dense_forward",
    "get_activation",
    "gradient_check",
    "load_csv",
    "make_dataset",
    "output_head",
]
