"""Backprop Lab engine: a NumPy backpropagation engine with staged stepping and traces.

Usable on its own, e.g. from a notebook::

    from engine import NetworkConfig, Trainer
    t = Trainer(NetworkConfig())
    t.train(500)
    t.state().test_accuracy

Recurrent networks (rnn, GRU, LSTM) step through time the same way::

    from engine import RecurrentConfig, RecurrentTrainer, SequenceConfig
    t = RecurrentTrainer(RecurrentConfig(dataset=SequenceConfig(name="delay", length=20)))
    t.backward(None)                 # forward t = 0 … 19, loss, backward t = 19 … 0
    t.trace().dh_norms()             # ‖∂L/∂h_t‖ per timestep
    t.train(300)
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
    RecurrentConfig,
    SequenceConfig,
    config_from_dict,
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
from engine.export import RecurrentExport, TrainerExport, read_export
from engine.history import History, HistorySlice
from engine.initializers import INITIALIZERS, Initializer
from engine.layers import DenseCache, DenseGrads, dense_backward, dense_forward
from engine.losses import LOSSES, TASK_LOSSES, Loss, default_loss, output_head
from engine.network import Network
from engine.optimizers import OPTIMIZERS, Optimizer
from engine.recurrent import RecurrentNetwork, RecurrentShape
from engine.recurrent_cells import CELLS, Cell, CellGrads, GRUCache, LSTMCache, RNNCache
from engine.recurrent_diagnostics import (
    BlockGradientCheck,
    GradientReach,
    JacobianChain,
    RecurrentGradientCheck,
)
from engine.recurrent_history import RecurrentHistory, RecurrentHistorySlice
from engine.recurrent_trace import RecurrentTrace, TimestepContribution, TimestepTrace
from engine.recurrent_trainer import RecurrentTrainer, RecurrentTrainerState
from engine.sequences import SEQUENCE_TASKS, SequenceDataset, SequenceTask, make_sequences
from engine.stages import Divergence, Stage, StepProgram, dense_program, recurrent_program
from engine.trace import LayerTrace, StepTrace, Summary
from engine.trainer import Trainer, TrainerState

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "DATASETS",
    "FEATURES",
    "INITIALIZERS",
    "LOSSES",
    "OPTIMIZERS",
    "SEQUENCE_TASKS",
    "TASK_LOSSES",
    "Activation",
    "BlockGradientCheck",
    "BoundaryGrid",
    "Cell",
    "CellGrads",
    "ChainRule",
    "ConfigError",
    "Dataset",
    "DatasetConfig",
    "DenseCache",
    "DenseGrads",
    "Divergence",
    "FlowFactor",
    "GRUCache",
    "GradientCheck",
    "GradientReach",
    "History",
    "HistorySlice",
    "InitConfig",
    "Initializer",
    "JacobianChain",
    "LSTMCache",
    "LayerConfig",
    "LayerGradientCheck",
    "LayerTrace",
    "Limits",
    "Loss",
    "Network",
    "NetworkConfig",
    "Optimizer",
    "OptimizerConfig",
    "RNNCache",
    "RecurrentConfig",
    "RecurrentExport",
    "RecurrentGradientCheck",
    "RecurrentHistory",
    "RecurrentHistorySlice",
    "RecurrentNetwork",
    "RecurrentShape",
    "RecurrentTrace",
    "RecurrentTrainer",
    "RecurrentTrainerState",
    "SequenceConfig",
    "SequenceDataset",
    "SequenceTask",
    "Stage",
    "StepProgram",
    "StepTrace",
    "Summary",
    "TimestepContribution",
    "TimestepTrace",
    "Trainer",
    "TrainerExport",
    "TrainerState",
    "config_from_dict",
    "default_loss",
    "dense_backward",
    "dense_forward",
    "dense_program",
    "get_activation",
    "gradient_check",
    "load_csv",
    "make_dataset",
    "make_sequences",
    "output_head",
    "read_export",
    "recurrent_program",
]
