"""barenet: multilayer perceptrons from scratch in NumPy, with hand-written backpropagation.

The public API, re-exported here; see the modules for the math.
"""

from . import _moved
from .data.augment import RandomShift
from .errors import BarenetError, DataError, DivergenceError, ModelFileError
from .export.native import load_model, save_model
from .nn.activations import ACTIVATIONS, get_activation, sigmoid, softmax
from .nn.gradcheck import GradcheckResult, gradcheck
from .nn.init import get_initializer, initialize
from .nn.layers import ActivationLayer, Dense, Dropout, Param
from .nn.losses import Loss, as_target, get_loss, one_hot
from .nn.model import MLP
from .nn.optim import SGD, Adam, AdamW, Optimizer, make_optimizer
from .nn.schedules import Schedule, get_schedule
from .train.history import History
from .train.trainer import Checkpoint, EarlyStopping, Trainer, evaluate, fit

__version__ = "0.1.0"

from .inspect.liveplot import LivePlot  # noqa: E402  (after __version__: run/ and inspect/ read it)
from .run.rundir import Run  # noqa: E402

_moved.install()

__all__ = [
    "ACTIVATIONS", "MLP", "SGD", "ActivationLayer", "Adam", "AdamW", "BarenetError",
    "Checkpoint", "DataError", "Dense", "DivergenceError", "Dropout", "EarlyStopping",
    "GradcheckResult", "History", "LivePlot", "Loss", "ModelFileError", "Optimizer", "Param", "RandomShift",
    "Run", "Schedule",
    "Trainer", "__version__", "as_target", "evaluate", "fit", "get_activation",
    "get_initializer", "get_loss", "get_schedule", "gradcheck", "initialize", "load_model",
    "make_optimizer", "one_hot", "save_model", "sigmoid", "softmax",
]
