"""barenet: multilayer perceptrons from scratch in NumPy, with hand-written backpropagation.

The public API, re-exported here; see the modules for the math.
"""

from .activations import ACTIVATIONS, get_activation, sigmoid, softmax
from .errors import BarenetError, DataError, DivergenceError, ModelFileError
from .gradcheck import GradcheckResult, gradcheck
from .init import get_initializer, initialize
from .layers import ActivationLayer, Dense, Dropout, Param
from .losses import Loss, as_target, get_loss, one_hot
from .model import MLP
from .optim import SGD, Adam, AdamW, Optimizer, make_optimizer
from .schedules import Schedule, get_schedule

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "MLP", "SGD", "ActivationLayer", "Adam", "AdamW", "BarenetError",
    "DataError", "Dense", "DivergenceError", "Dropout", "GradcheckResult", "Loss",
    "ModelFileError", "Optimizer", "Param", "Schedule", "__version__", "as_target",
    "get_activation", "get_initializer", "get_loss", "get_schedule", "gradcheck", "initialize",
    "make_optimizer", "one_hot", "sigmoid", "softmax",
]
