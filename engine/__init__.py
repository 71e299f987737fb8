"""Backprop Lab engine: a NumPy backpropagation engine with staged stepping and traces.

Usable on its own, e.g. from a notebook::

    from engine import NetworkConfig, Trainer
    t = Trainer(NetworkConfig())
    t.train(500)
    t.state().test_accuracy
"""

from engine.activations import ACTIVATIONS, Activation, get_activation
from engine.boundary import BoundaryGrid
from engine.config import (
    DatasetConfig,
    InitConfig,
    LayerConfig,
    Limits,
    NetworkConfig,
    OptimizerConfig,
)
from engine.datasets import DATASETS, FEATURES, Dataset, load_csv, make_dataset
from engine.diagnostics import (
    ChainRule,
    FlowFactor,
    GradientCheck,
    LayerGradientCheck,
    gradient_check,
)
from engine.errors import ConfigError
from engine.export import TrainerExport
from engine.history import History, HistorySlice
from engine.initializers import INITIALIZERS, Initializer
from engine.layers import DenseCache, DenseGrads, dense_backward, dense_forward
from engine.losses import LOSSES, TASK_LOSSES, Loss, default_loss, output_head
from engine.network import Network
from engine.optimizers import OPTIMIZERS, Optimizer
from engine.stages import Divergence, Stage, StepProgram, dense_program
from engine.trace import LayerTrace, StepTrace, Summary
from engine.trainer import Trainer, TrainerState

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
    "ConfigError",
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
    "StepProgram",
    "StepTrace",
    "Summary",
    "Trainer",
    "TrainerExport",
    "TrainerState",
    "default_loss",
    "dense_backward",
    "dense_forward",
    "dense_program",
    "get_activation",
    "gradient_check",
    "load_csv",
    "make_dataset",
    "output_head",
]
