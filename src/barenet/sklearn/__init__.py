"""A scikit-learn estimator: :class:`MLPClassifier`, barenet in the shape sklearn users know.

``barenet.sklearn.MLPClassifier`` is a drop-in for ``sklearn.neural_network.MLPClassifier``
(solvers ``sgd`` and ``adam``): the same parameters where they mean the same thing, the same
fitted attributes, the same stopping rules, and -- for the same ``random_state`` -- the same
initial weights, shuffles and validation split. It works in Pipelines, ``GridSearchCV``,
``cross_val_score`` and ``clone``, and passes scikit-learn's estimator checks.

What it adds, from the requests sklearn's MLP never took: ``dropout``; more and per-layer
hidden activations (``activation=["relu", "tanh"]``, ``leaky_relu``); ``class_weight``;
barenet's initializers (``init``); a ``squared_error`` loss; barenet training ``callbacks``
(a progress bar with ``verbose=2``); ``dtype="float32"`` for speed; a validation loss curve
(``validation_loss_curve_``) and an explicit validation set (``fit(..., X_val=, y_val=)``);
per-epoch records (``history_``) and the trained :class:`barenet.MLP` itself (``model_``).

Training, per minibatch of B samples with weights s_i (1 without ``sample_weight``), written
out (sklearn's objective, exactly)::

    L = sum_i s_i l_i / S  +  alpha / (2 S) * sum_layers ||W||^2,       S = sum_i s_i
    dL/dz_out (row i) = s_i / S * (p_i - y_i)       (fused gradient; squared_error goes
                                                     through the output activation first)
    backpropagate through barenet's layers; dW += alpha / S * W; optimizer step

This module imports scikit-learn; ``import barenet`` never does (``pip install barenet[sklearn]``).
"""

from __future__ import annotations

import copy
import math
import numbers
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import scipy.sparse as sp
    from sklearn.base import BaseEstimator, ClassifierMixin, clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, gen_batches
    from sklearn.utils import shuffle as sk_shuffle
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.extmath import safe_sparse_dot
    from sklearn.utils.multiclass import (
        _check_partial_fit_first_call,
        check_classification_targets,
        unique_labels,
    )
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "barenet.sklearn needs scikit-learn; install it with: pip install 'barenet[sklearn]'"
    ) from exc

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


from ..errors import BarenetError, DivergenceError
from ..nn.activations import ACTIVATIONS, sigmoid, softmax
from ..nn.layers import Dense
from ..nn.losses import Loss, as_target
from ..nn.model import MLP
from ..nn.optim import SGD, Adam, Optimizer
from ..train.history import History
from ..train.trainer import Trainer

Array = np.ndarray

__all__ = ["MLPClassifier"]

# sklearn's hidden activation names, and barenet's extra ones, -> barenet's names.
_HIDDEN = {"identity": "identity", "logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
           "relu": "relu", "leaky_relu": "leaky_relu"}
_LOSSES = ("log_loss", "squared_error")
_SOLVERS = ("sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")


def _fail(message: str) -> BarenetError:
    return BarenetError(f"MLPClassifier: {message}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _copy_callback(callback: Any) -> Any:
    """A deep copy for :func:`sklearn.clone`, or the callback itself when it cannot be copied
    (a progress bar holds a terminal and a lock): such callbacks are shared between clones."""
    try:
        return copy.deepcopy(callback)
    except Exception:
        return callback


def _sample_weight_array(sample_weight: Any, X: Any) -> Array:
    """Validated non-negative float64 weights, one per sample (sklearn's checks and messages)."""
    try:
        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except TypeError:  # pragma: no cover - scikit-learn < 1.6 named it only_non_negative
        return _check_sample_weight(sample_weight, X, dtype=np.float64, only_non_negative=True)


def _release_buffers(model: MLP) -> None:
    """Drop what the layers keep from the last training batch (inputs, outputs, masks), so a
    fitted estimator pickles small and holds no reference to the training data."""
    for layer in model.layers:
        for name in ("_x", "_z", "_dx", "_y", "_mask"):
            if getattr(layer, name, None) is not None:
                setattr(layer, name, None)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron classifier trained by barenet's hand-written backpropagation.

    Parameters shared with ``sklearn.neural_network.MLPClassifier`` mean what they mean there
    (see its documentation); ``solver`` is ``"sgd"`` or ``"adam"`` (no ``lbfgs``).

    hidden_layer_sizes : int or sequence of int, default=(100,)
    activation : str or list of str, default="relu"
        ``identity``, ``logistic`` (= ``sigmoid``), ``tanh``, ``relu``, ``leaky_relu``; or one
        name per hidden layer.
    solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle,
    random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change :
        as in scikit-learn. ``batch_size`` also takes ``"full"`` (full-batch gradient descent).
        ``verbose=1`` prints sklearn's per-iteration lines; ``verbose=2`` shows barenet's
        progress bar instead.
    dropout : float or list of float, default=0.0
        Inverted-dropout rate after each hidden activation (or one rate per hidden layer).
    class_weight : None, "balanced" or dict {class: weight}, default=None
        Multiplies each sample's weight by its class's weight (binary and multiclass targets).
    init : str or list of str, default="sklearn"
        ``"sklearn"``: scikit-learn's scheme (Glorot uniform with bound sqrt(6 / (fan_in +
        fan_out)), sqrt(2 / ...) for logistic layers, biases drawn alike), the very same draws
        for the same integer ``random_state``. Otherwise any barenet initializer spec
        (``"he"``, ``"xavier_uniform"``, ``"uniform(-1,1)"``, ``"normal(0.01)"``, ...) or one
        per layer; biases then start at 0.
    loss : {"log_loss", "squared_error"}, default="log_loss"
        ``log_loss`` is cross-entropy on a softmax output (multiclass) or binary
        cross-entropy on sigmoid outputs (binary: one unit; multilabel: one per label).
        ``squared_error`` is 1/2 ||p - y||^2 on the same outputs.
    callbacks : list of barenet training callbacks, default=None
        Objects with any of ``on_train_begin(trainer)``, ``on_batch_end(trainer, batch,
        n_batches, loss)``, ``on_epoch_end(trainer, record)``, ``on_train_end(trainer)``
        (see :mod:`barenet.training`); ``trainer`` is a :class:`barenet.training.Trainer`
        holding the model, optimizer and history, plus ``trainer.estimator`` (this
        estimator). Setting ``trainer.stop_training = True`` stops after the epoch.
    dtype : None, "float32" or "float64", default=None
        None follows the input (float32 stays float32, anything else is float64), as sklearn
        does; "float32" trains faster.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_ :
        as in scikit-learn (``coefs_[i]`` is (n_in, n_out)).
    validation_loss_curve_ : list of float or None
        The loss on the validation data after each epoch (sample-weighted mean, without the
        L2 term); None when training used no validation data.
    history_ : barenet.history.History
        One record per epoch: train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds.
    model_ : barenet.MLP
        The trained network (its weights are ``coefs_`` and ``intercepts_``).
    """

    def __init__(
        self, hidden_layer_sizes: Any = (100,), activation: Any = "relu", *, solver: str = "adam",
        alpha: float = 0.0001, batch_size: Any = "auto", learning_rate: str = "constant",
        learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
        shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: Any = False,
        warm_start: bool = False, momentum: float = 0.9, nesterovs_momentum: bool = True,
        early_stopping: bool = False, validation_fraction: float = 0.1, beta_1: float = 0.9,
        beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: Any = 10,
        dropout: Any = 0.0, class_weight: Any = None, init: Any = "sklearn",
        loss: str = "log_loss", callbacks: Any = None, dtype: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.class_weight = class_weight
        self.init = init
        self.loss = loss
        self.callbacks = callbacks
        self.dtype = dtype

    # ------------------------------------------------------------------ sklearn plumbing
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multilabel": True}

    def __sklearn_clone__(self) -> MLPClassifier:
        """Like :func:`sklearn.clone`, except that a callback that cannot be deep-copied (a
        progress bar holds a terminal and a lock) is shared with the clone instead of failing."""
        params = self.get_params(deep=False)
        callbacks = params.pop("callbacks")
        new_params = {name: clone(value, safe=False) for name, value in params.items()}
        if isinstance(callbacks, list | tuple):
            callbacks = type(callbacks)(_copy_callback(c) for c in callbacks)
        else:  # None, or something fit() will reject with a clear message
            callbacks = clone(callbacks, safe=False)
        new = type(self)(callbacks=callbacks, **new_params)
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        return new

    # ------------------------------------------------------------------ parameters
    def _settings(self) -> dict[str, Any]:
        """Validate every parameter; return the normalized architecture and options."""
        sizes = self.hidden_layer_sizes
        if _is_int(sizes):
            sizes = [sizes]
        try:
            hidden = list(sizes)
        except TypeError:
            hidden = None
        if hidden is None or not all(_is_int(h) and h > 0 for h in hidden):
            raise _fail(f"hidden_layer_sizes must be a positive integer or a sequence of them, "
                        f"e.g. (100,) or [256, 128]; got {self.hidden_layer_sizes!r}")
        hidden = [int(h) for h in hidden]
        n_hidden = len(hidden)

        act = self.activation
        if isinstance(act, str):
            names = [act] * n_hidden
            if act not in _HIDDEN:
                names = [act]
        else:
            try:
                names = list(act)
            except TypeError:
                names = [act]
        for name in names:
            if not isinstance(name, str) or name not in _HIDDEN:
                raise _fail(f"unknown activation {name!r}; choose one of: {', '.join(_HIDDEN)}, "
                            "or give a list with one per hidden layer")
        if len(names) != n_hidden:
            raise _fail(f"activation lists {len(names)} names for {n_hidden} hidden layers "
                        f"{hidden}; give one per hidden layer, or a single name")
        activations = [_HIDDEN[n] for n in names]
        init_act = (_HIDDEN[self.activation] if isinstance(self.activation, str)
                    else (activations[-1] if activations else "relu"))

        def choice(name: str, value: object, options: Sequence[str]) -> None:
            if not isinstance(value, str) or value not in options:
                raise _fail(f"{name} must be one of: {', '.join(options)}; got {value!r}")

        def number(name: str, value: object, low: float, high: float = math.inf, *,
                   low_open: bool = False, high_open: bool = True) -> float:
            ok = _is_real(value) and not math.isnan(float(value))  # type: ignore[arg-type]
            if ok:
                v = float(value)  # type: ignore[arg-type]
                ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
            if not ok:
                lo = "(" if low_open else "["
                hi = ")" if high_open else "]"
                raise _fail(f"{name} must be a number in {lo}{low:g}, {high:g}{hi}; got {value!r}")
            return float(value)  # type: ignore[arg-type]

        def boolean(name: str, value: object) -> bool:
            if not isinstance(value, bool | np.bool_):
                raise _fail(f"{name} must be True or False; got {value!r}")
            return bool(value)

        choice("solver", self.solver, _SOLVERS)
        choice("learning_rate", self.learning_rate, _SCHEDULES)
        choice("loss", self.loss, _LOSSES)
        number("alpha", self.alpha, 0.0)
        number("learning_rate_init", self.learning_rate_init, 0.0, low_open=True)
        number("power_t", self.power_t, 0.0)
        number("tol", self.tol, 0.0)
        number("momentum", self.momentum, 0.0, 1.0)
        number("beta_1", self.beta_1, 0.0, 1.0)
        number("beta_2", self.beta_2, 0.0, 1.0)
        number("epsilon", self.epsilon, 0.0, low_open=True)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            boolean(name, getattr(self, name))
        if not (_is_int(self.max_iter) and self.max_iter >= 1):
            raise _fail(f"max_iter must be a positive integer; got {self.max_iter!r}")
        if not ((_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1)
                or self.n_iter_no_change == np.inf):
            raise _fail(f"n_iter_no_change must be a positive integer or numpy.inf; "
                        f"got {self.n_iter_no_change!r}")
        if not (self.batch_size in ("auto", "full") or (_is_int(self.batch_size) and self.batch_size >= 1)):
            raise _fail(f"batch_size must be a positive integer, 'auto' or 'full'; got {self.batch_size!r}")
        if not (isinstance(self.verbose, bool | np.bool_) or (_is_int(self.verbose) and self.verbose >= 0)):
            raise _fail(f"verbose must be a bool or a non-negative integer; got {self.verbose!r}")
        if self.early_stopping:
            number("validation_fraction", self.validation_fraction, 0.0, 1.0, low_open=True)

        drops = self.dropout
        if _is_real(drops):
            drops = [drops] * n_hidden
        elif isinstance(drops, str | bytes) or not isinstance(drops, Sequence | np.ndarray):
            raise _fail(f"dropout must be a rate in [0, 1) or a list of them; got {self.dropout!r}")
        drops = [number("dropout", d, 0.0, 1.0) for d in drops]
        if len(drops) != n_hidden:
            raise _fail(f"dropout lists {len(drops)} rates for {n_hidden} hidden layers; give one "
                        "per hidden layer, or a single rate")

        init = self.init
        if isinstance(init, str):
            inits: str | list[str] = init
        else:
            try:
                inits = list(init)
            except TypeError:
                inits = []
            if len(inits) != n_hidden + 1 or not all(isinstance(i, str) for i in inits):
                raise _fail(f"init must be an initializer name or a list of {n_hidden + 1} names, "
                            f"one per layer; got {init!r}")

        cw = self.class_weight
        if not (cw is None or (isinstance(cw, str) and cw == "balanced") or isinstance(cw, dict)):
            raise _fail(f"class_weight must be None, 'balanced' or a dict {{class: weight}}; got {cw!r}")

        if self.dtype is None:
            dtype = None
        else:
            try:
                dtype = np.dtype(self.dtype)
            except TypeError:
                dtype = None
            if dtype is None or dtype.name not in ("float32", "float64"):
                raise _fail(f"dtype must be None, 'float32' or 'float64'; got {self.dtype!r}")

        callbacks = self.callbacks
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, str | bytes) or not isinstance(callbacks, Sequence):
            raise _fail(f"callbacks must be a list of callback objects; got {callbacks!r}")
        return {"hidden": hidden, "activations": activations, "init_activation": init_act,
                "dropout": drops, "init": inits, "dtype": dtype, "callbacks": list(callbacks)}

    # ------------------------------------------------------------------ public API
    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, X_val: Any = None, y_val: Any = None,
            sample_weight_val: Any = None) -> MLPClassifier:
        """Train on (X, y) for up to ``max_iter`` epochs.

        ``X_val``, ``y_val`` (and ``sample_weight_val``): an explicit validation set, as in
        ``HistGradientBoostingClassifier``. It is scored after every epoch
        (``validation_scores_``, ``validation_loss_curve_``) and, with ``early_stopping``, used
        for stopping instead of a ``validation_fraction`` split.
        """
        return self._fit(X, y, sample_weight, incremental=False,
                         validation=(X_val, y_val, sample_weight_val))

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y). ``classes`` (every class of the whole data) is required on
        the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            y_arr = y if sp.issparse(y) else np.asarray(y)
            if y_arr.ndim == 2 and y_arr.shape[1] > 1:
                self._label_binarizer.fit(y_arr)
            else:
                self._label_binarizer.fit(classes)
            if len(self._label_binarizer.classes_) < 2:
                raise _fail(f"classes must list at least 2 classes; got {list(classes)}")
        return self._fit(X, y, sample_weight, incremental=True, validation=(None, None, None))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order (for a
        multilabel target: the probability of each label)."""
        z = self._output_logits(X)
        if self.out_activation_ == "softmax":
            return softmax(z, out=z)
        p = sigmoid(z, out=z)
        if self.n_outputs_ == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X: Any) -> Array:
        """log of :meth:`predict_proba`, computed from the output pre-activations (finite even
        where a probability rounds to 0)."""
        z = self._output_logits(X)
        if self.out_activation_ == "softmax":
            z -= z.max(axis=1, keepdims=True)
            z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
            return z
        log_p, log_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)  # log p, log (1 - p)
        if self.n_outputs_ == 1:
            return np.hstack([log_q, log_p])
        return log_p

    def predict(self, X: Any) -> Array:
        """Predicted class labels (an indicator matrix for a multilabel target)."""
        p = self.predict_proba(X)
        if self.n_outputs_ == 1:
            p = p[:, 1]
        return self._label_binarizer.inverse_transform(p)

    # ------------------------------------------------------------------ inference
    def _output_logits(self, X: Any) -> Array:
        """Output pre-activations (N, n_outputs_), without touching any training state (no
        layer buffers), so predictions are safe from several threads at once."""
        check_is_fitted(self)
        X = _validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                           reset=False)
        return self._logits(X.astype(self.coefs_[0].dtype, copy=False))

    def _logits(self, X: Any) -> Array:
        """Output pre-activations of validated input, computed from coefs_ and intercepts_."""
        hidden = self.model_.hidden
        a = X
        last = len(self.coefs_) - 1
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            a = np.asarray(safe_sparse_dot(a, W))
            a += b
            if i < last:
                ACTIVATIONS[hidden[i]].forward(a, out=a)
        return a

    # ------------------------------------------------------------------ training
    def _fit(self, X: Any, y: Any, sample_weight: Any, *, incremental: bool,
             validation: tuple[Any, Any, Any]) -> MLPClassifier:
        cfg = self._settings()
        if self.early_stopping and incremental:
            raise _fail("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = _validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                              dtype=(np.float64, np.float32), reset=first_pass)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._fit_labels(y, incremental)
        T = self._label_binarizer.transform(y)
        if sp.issparse(T):  # pragma: no cover - sparse_output is never set
            T = T.toarray()
        multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        multiclass = self._label_binarizer.y_type_ == "multiclass"

        sw = self._sample_weights(sample_weight, X, y, multilabel, incremental)
        dtype = (cfg["dtype"] or X.dtype) if first_pass else self.coefs_[0].dtype
        X = X.astype(dtype, copy=False)
        if sp.issparse(X):
            X = X.tocsr()  # row batches

        X_val = y_val_labels = sw_val = None
        X_val_in, y_val_in, sw_val_in = validation
        if X_val_in is not None or y_val_in is not None:
            if X_val_in is None or y_val_in is None:
                raise _fail("give both X_val and y_val, or neither")
            X_val, y_val_labels, sw_val = self._validation_data(X_val_in, y_val_in, sw_val_in, dtype)
        elif sw_val_in is not None:
            raise _fail("sample_weight_val needs X_val and y_val")

        rs = check_random_state(self.random_state)
        n_features = X.shape[1]
        n_out = T.shape[1]
        if first_pass:
            self._initialize(cfg, n_features, n_out, dtype, rs, multiclass)
        else:
            self._check_continuation(cfg, n_features, n_out)
        model: MLP = self.model_
        # the training targets: class indices for softmax (no one-hot matrix), else 0/1 columns
        targets = np.argmax(T, axis=1) if multiclass else T.astype(dtype)

        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()

        X_train, t_train, sw_train = X, targets, sw
        if self.early_stopping and X_val is None:  # sklearn's split, from the same random state
            stratify = T if n_out == 1 and not multilabel else None
            train_idx, val_idx = train_test_split(
                np.arange(X.shape[0]), random_state=rs, test_size=self.validation_fraction,
                stratify=stratify)
            if len(val_idx) < 2:
                raise _fail("the validation set is too small; increase validation_fraction or "
                            "the size of your data set")
            X_train, X_val = X[train_idx], X[val_idx]
            t_train = targets[train_idx]
            y_val_labels = self._label_binarizer.inverse_transform(
                T[val_idx] if n_out > 1 else T[val_idx].ravel())
            if sw is not None:
                sw_train, sw_val = sw[train_idx], sw[val_idx]

        self._run_epochs(cfg, model, X_train, t_train, sw_train, X_val, y_val_labels, sw_val, rs,
                         incremental)
        return self

    def _fit_labels(self, y: Array, incremental: bool) -> None:
        """Fit the label binarizer (``classes_``) on a first fit, or check the labels agree."""
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            binarizer = LabelBinarizer()
            binarizer.fit(y)
            if len(binarizer.classes_) < 2:
                raise _fail(f"the training labels hold only 1 class ({binarizer.classes_[0]!r}); "
                            "a classifier needs samples of at least 2 classes")
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            return
        classes = unique_labels(y)
        if self.warm_start and not incremental:
            if set(classes) != set(self.classes_):
                raise _fail(f"warm_start can only be used where y has the same classes as the "
                            f"previous fit; previously got {self.classes_}, y has {classes}")
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise _fail(f"y has classes not in classes_ {self.classes_}: y has {classes}")

    def _sample_weights(self, sample_weight: Any, X: Any, y: Array, multilabel: bool,
                        incremental: bool) -> Array | None:
        """sample_weight times class_weight, or None when both are absent."""
        sw = None
        if sample_weight is not None:
            sw = _sample_weight_array(sample_weight, X)
        cw = self.class_weight
        if cw is not None:
            if multilabel:
                raise _fail("class_weight applies to binary and multiclass targets, not "
                            "multilabel ones; weight the samples with sample_weight instead")
            if incremental and isinstance(cw, str):
                raise _fail("class_weight='balanced' needs all the labels at once and is not "
                            "supported by partial_fit; compute the weights with sklearn.utils."
                            "class_weight.compute_class_weight and pass them as a dict")
            if isinstance(cw, dict):
                unknown = [c for c in cw if c not in set(self.classes_.tolist())]
                if unknown:
                    raise _fail(f"class_weight names classes that are not in the labels: "
                                f"{unknown}; the classes are {self.classes_.tolist()}")
                per_class = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
                if not np.all(np.isfinite(per_class)) or per_class.min() < 0:
                    raise _fail("class weights must be finite and non-negative")
                cweights = per_class[np.searchsorted(self.classes_, y)]
            else:
                cweights = compute_sample_weight("balanced", y)
            sw = cweights if sw is None else sw * cweights
        if sw is None:
            return None
        if not np.any(sw > 0):
            raise _fail("the sample weights are all zero; at least one sample needs a positive "
                        "weight")
        if not multilabel and not incremental and len(np.unique(y[sw > 0])) < 2:
            raise _fail("only 1 class has samples with a positive weight; a classifier needs "
                        "samples of at least 2 classes")
        return sw

    def _validation_data(self, X_val: Any, y_val: Any, sw_val: Any, dtype: np.dtype) -> tuple:
        X_val, y_val = _validate_data(self, X_val, y_val, accept_sparse=["csr", "csc"],
                                      multi_output=True, dtype=(np.float64, np.float32), reset=False)
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
        if len(unknown):
            raise _fail(f"y_val has classes not in the training labels: {unknown.tolist()}")
        if X_val.shape[0] < 1:
            raise _fail("the validation set X_val is empty")
        if sw_val is not None:
            sw_val = _sample_weight_array(sw_val, X_val)
        return X_val.astype(dtype, copy=False), y_val, sw_val

    def _initialize(self, cfg: dict, n_features: int, n_out: int, dtype: np.dtype,
                    rs: np.random.RandomState, multiclass: bool) -> None:
        """Build the network and reset every fitted attribute (a first fit)."""
        sizes = [n_features, *cfg["hidden"], n_out]
        output = "softmax" if multiclass else "sigmoid"
        sklearn_init = cfg["init"] == "sklearn"
        weights, specs = [], []
        if sklearn_init:
            # sklearn's _init_coef, draw for draw: weights then biases, layer by layer
            acts = cfg["activations"] + [cfg["init_activation"]]
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                factor = 2.0 if acts[i] == "sigmoid" else 6.0
                bound = float(np.sqrt(factor / (fan_in + fan_out)))
                weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
                weights.append(rs.uniform(-bound, bound, fan_out).astype(dtype))
                # the weights' distribution in barenet's terms (saved with the model)
                specs.append("xavier_uniform" if factor == 6.0 else f"uniform({-bound!r},{bound!r})")
        seed = int(self.random_state) if _is_int(self.random_state) else int(rs.randint(2**31 - 1))
        try:
            model = MLP(sizes, hidden=cfg["activations"], output=output,
                        init="zeros" if sklearn_init else cfg["init"], dropout=cfg["dropout"],
                        dtype=dtype, seed=seed)
        except BarenetError as exc:
            raise _fail(str(exc)) from None
        if sklearn_init:
            model.inits = specs
            model.set_weights(weights)
        self.model_ = model
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_out
        self.out_activation_ = "softmax" if multiclass else "logistic"
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_: list[float] = []
        self._no_improvement_count = 0
        self.validation_loss_curve_: list[float] | None = None
        self.history_ = History()
        if self.early_stopping:
            self.validation_scores_: list[float] | None = []
            self.best_validation_score_: float | None = -np.inf
            self.best_loss_: float | None = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        self._best_weights = model.get_weights() if self.early_stopping else None
        if hasattr(self, "_optimizer"):
            del self._optimizer
        self._sync_attributes()

    def _check_continuation(self, cfg: dict, n_features: int, n_out: int) -> None:
        """warm_start / partial_fit: the architecture must be the one already trained."""
        model: MLP = self.model_
        sizes = [n_features, *cfg["hidden"], n_out]
        if (model.sizes != sizes or model.hidden != cfg["activations"]
                or model.dropout != cfg["dropout"]):
            raise _fail(f"cannot continue training a {model.sizes} network ({model.hidden}, "
                        f"dropout {model.dropout}) as {sizes} ({cfg['activations']}, dropout "
                        f"{cfg['dropout']}); set warm_start=False to start over")
        # coefs_ / intercepts_ may have been replaced by the user: train what they show
        dense = model.dense_layers
        for layer, W, b in zip(dense, self.coefs_, self.intercepts_, strict=True):
            if W is not layer.W:
                layer.W[...] = W
            if b is not layer.b:
                layer.b[...] = b
        self._sync_attributes()

    def _sync_attributes(self) -> None:
        dense = self.model_.dense_layers
        self.coefs_ = [layer.W for layer in dense]
        self.intercepts_ = [layer.b for layer in dense]

    def _make_optimizer(self) -> Optimizer:
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return SGD(float(self.learning_rate_init), momentum,
                       nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        return Adam(float(self.learning_rate_init), float(self.beta_1), float(self.beta_2),
                    float(self.epsilon))

    def _batch_size(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size == "full":
            return n
        if self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", stacklevel=3)
        return int(np.clip(self.batch_size, 1, n))

    def _barenet_loss(self) -> Loss:
        if self.loss == "squared_error":
            return Loss("squared_error")
        return Loss("cross_entropy" if self.out_activation_ == "softmax" else "binary_cross_entropy")

    def _run_epochs(self, cfg: dict, model: MLP, X: Any, targets: Array, sw: Array | None,
                    X_val: Any, y_val: Array | None, sw_val: Array | None,
                    rs: np.random.RandomState, incremental: bool) -> None:
        """sklearn's ``_fit_stochastic`` loop, on barenet's layers and optimizers."""
        loss = self._barenet_loss()
        optimizer = self._optimizer
        n = X.shape[0]
        batch = self._batch_size(n)
        n_batches = math.ceil(n / batch)
        params = model.params()
        dense = model.dense_layers
        scratch = [np.empty_like(layer.W) for layer in dense]
        alpha = float(self.alpha)
        fused = loss.is_fused_with(model.output)
        multiclass = self.out_activation_ == "softmax"
        sparse = sp.issparse(X)
        buffer = None if sparse or not self.shuffle else np.empty((batch, X.shape[1]), dtype=model.dtype)
        sample_idx = np.arange(n)
        rows = np.arange(batch)
        has_validation = X_val is not None
        if has_validation:
            T_val = self._label_binarizer.transform(y_val)
            val_target = np.argmax(T_val, axis=1) if multiclass else T_val.astype(model.dtype)
            if self.validation_scores_ is None:
                self.validation_scores_ = []
            if self.validation_loss_curve_ is None:
                self.validation_loss_curve_ = []
        if self.early_stopping:
            if self.best_validation_score_ is None:
                self.best_validation_score_ = -np.inf
            if self._best_weights is None:
                self._best_weights = model.get_weights()
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf

        callbacks = list(cfg["callbacks"])
        plain_verbose = int(self.verbose) == 1  # sklearn's lines; 2 and up: a progress bar
        if int(self.verbose) >= 2:
            from ..train.progress import ProgressBar

            callbacks.append(ProgressBar())
        trainer = Trainer(model, loss, optimizer, batch_size=batch, epochs=1, shuffle=self.shuffle,
                          callbacks=callbacks, track_norms=False)
        trainer.history = self.history_
        trainer.epoch = len(self.history_)
        trainer.epochs = trainer.epoch + (1 if incremental else int(self.max_iter))
        trainer.estimator = self  # type: ignore[attr-defined]
        batch_hooks = [c for c in callbacks if hasattr(c, "on_batch_end")]

        def call(hook: str, *args: Any) -> None:
            for callback in callbacks:
                method = getattr(callback, hook, None)
                if method is not None:
                    method(*args)

        call("on_train_begin", trainer)
        diverged = False
        try:
            self.n_iter_ = 0
            for _ in range(int(self.max_iter)):
                started = time.perf_counter()
                if self.shuffle:
                    sample_idx = sk_shuffle(sample_idx, random_state=rs)
                accumulated, correct = 0.0, 0
                for b, batch_slice in enumerate(gen_batches(n, batch)):
                    m = batch_slice.stop - batch_slice.start
                    idx = sample_idx[batch_slice] if self.shuffle else batch_slice
                    if sparse:
                        xb = X[idx].toarray()
                    elif self.shuffle:
                        assert buffer is not None
                        xb = np.take(X, idx, axis=0, out=buffer[:m], mode="clip")  # unbuffered
                    else:
                        xb = X[idx]
                    tb = targets[idx]
                    wb = None if sw is None else sw[idx]
                    value, right = self._train_step(model, loss, fused, multiclass, dense, params,
                                                    scratch, alpha, xb, tb, wb, rows[:m])
                    if not math.isfinite(value):
                        diverged = True
                        break
                    accumulated += value * m
                    correct += right
                    if batch_hooks:
                        for callback in batch_hooks:
                            callback.on_batch_end(trainer, b + 1, n_batches, value)
                if diverged:
                    break
                self.n_iter_ += 1
                self.loss_ = accumulated / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if plain_verbose:
                    print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                if not math.isfinite(self.loss_):
                    diverged = True
                    break
                record: dict[str, Any] = {"epoch": len(self.history_) + 1, "train_loss": self.loss_,
                                          "train_accuracy": correct / n, "val_loss": None,
                                          "val_accuracy": None, "lr": optimizer.lr}
                if has_validation:
                    score, val_loss = self._validation_scores(X_val, y_val, val_target, sw_val, loss)
                    self.validation_scores_.append(score)  # type: ignore[union-attr]
                    self.validation_loss_curve_.append(val_loss)  # type: ignore[union-attr]
                    record["val_loss"], record["val_accuracy"] = val_loss, score
                    if plain_verbose:
                        print(f"Validation score: {score:f}")
                self._update_no_improvement_count(model)
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_lr(float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t)
                record["seconds"] = time.perf_counter() - started
                self.history_.epochs.append(record)
                trainer.epoch += 1
                call("on_epoch_end", trainer, record)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self.early_stopping:
                        msg = (f"Validation score did not improve more than tol={self.tol:f} for "
                               f"{self.n_iter_no_change} consecutive epochs.")
                    else:
                        msg = (f"Training loss did not improve more than tol={self.tol:f} for "
                               f"{self.n_iter_no_change} consecutive epochs.")
                    if self._trigger_stopping(msg):
                        break
                    self._no_improvement_count = 0
                if trainer.stop_training or incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                                  "reached and the optimization hasn't converged yet.",
                                  ConvergenceWarning, stacklevel=4)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        finally:
            _release_buffers(model)

        if self.early_stopping and self._best_weights is not None:
            model.set_weights(self._best_weights)
        call("on_train_end", trainer)
        if diverged or not all(np.isfinite(p.value).all() for p in params):
            raise DivergenceError(
                "MLPClassifier: training diverged (the loss or the weights became non-finite). "
                f"The learning rate ({self.learning_rate_init:g}) is probably too large for "
                "these inputs; try a 10x smaller learning_rate_init, or scale the features "
                "first (e.g. StandardScaler or MinMaxScaler in a Pipeline)")

    def _train_step(self, model: MLP, loss: Loss, fused: bool, multiclass: bool, dense: list[Dense],
                    params: list, scratch: list[Array], alpha: float, xb: Array, tb: Array,
                    wb: Array | None, rows: Array) -> tuple[float, int]:
        """One minibatch: forward, weighted loss, weighted gradient, backward, update.

        Returns (the batch's loss with sklearn's L2 term, how many samples it predicted right
        before the update)."""
        p = model.forward(xb, training=True, copy=False)
        m = p.shape[0]
        total = float(m) if wb is None else float(wb.sum())
        if total <= 0:  # every sample of this batch weighs 0: nothing to learn from it
            return 0.0, 0
        per_sample = loss.per_sample(p, tb)
        data = float(np.mean(per_sample)) if wb is None else float(np.dot(wb, per_sample)) / total
        if alpha:
            flat = [d.W.reshape(-1) for d in dense]  # views: W is contiguous
            data += 0.5 * alpha * sum(float(np.dot(w, w)) for w in flat) / total
        if multiclass:
            right = int(np.count_nonzero(np.argmax(p, axis=1) == tb))
        elif p.shape[1] == 1:
            right = int(np.count_nonzero((p[:, 0] > 0.5) == (tb[:, 0] > 0.5)))
        else:
            right = int(np.count_nonzero(np.all((p > 0.5) == (tb > 0.5), axis=1)))
        layers = model.layers[:-1]  # the output activation is handled here
        if fused:  # dL/dz = p - y, written over p
            if multiclass:
                p[rows, tb] -= 1
                g = p
            else:
                g = np.subtract(p, tb, out=p)
        else:
            g = p - as_target(tb, p.shape[1], p.dtype)  # d(1/2 ||p - y||^2)/dp
            g = model.layers[-1].backward(g)
        if wb is None:
            g *= 1.0 / total
        else:
            g *= (wb / total).astype(g.dtype)[:, None]
        for i in range(len(layers) - 1, -1, -1):
            g = layers[i].backward(g, need_input_grad=i > 0)
        if alpha:
            scale = alpha / total
            for layer, tmp in zip(dense, scratch, strict=True):
                np.multiply(layer.W, scale, out=tmp)
                layer.dW += tmp
        optimizer = self._optimizer
        if isinstance(optimizer, Adam):
            # sklearn's Adam adds epsilon to sqrt(v), not to sqrt(v_hat) as barenet's (and
            # PyTorch's) does: this epsilon makes barenet's update sklearn's, exactly.
            optimizer.eps = float(self.epsilon) / math.sqrt(1.0 - optimizer.beta2 ** (optimizer.t + 1))
        optimizer.step(params)
        return data, right

    def _validation_scores(self, X_val: Any, y_val: Array, target: Array, sw_val: Array | None,
                           loss: Loss) -> tuple[float, float]:
        """(accuracy, loss) on the validation data, in inference mode."""
        z = self._logits(X_val)
        p = softmax(z, out=z) if self.out_activation_ == "softmax" else sigmoid(z, out=z)
        if not np.isfinite(p).all():
            return float("nan"), float("nan")
        per_sample = loss.per_sample(p, target)
        val_loss = float(np.average(per_sample, weights=sw_val))
        decided = p[:, 0] if self.n_outputs_ == 1 else p
        y_pred = self._label_binarizer.inverse_transform(decided)
        return float(accuracy_score(y_val, y_pred, sample_weight=sw_val)), val_loss

    def _update_no_improvement_count(self, model: MLP) -> None:
        """sklearn's rule: count epochs that fail to improve by ``tol`` (validation score with
        early stopping, else the training loss); keep the best weights with early stopping."""
        if self.early_stopping:
            score = self.validation_scores_[-1]  # type: ignore[index]
            if score < self.best_validation_score_ + self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:  # type: ignore[operator]
                self.best_validation_score_ = score
                self._best_weights = model.get_weights()
        else:
            last = self.loss_curve_[-1]
            if last > self.best_loss_ - self.tol:  # type: ignore[operator]
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last < self.best_loss_:  # type: ignore[operator]
                self.best_loss_ = last

    def _set_lr(self, lr: float) -> None:
        """Change the learning rate between epochs. sklearn's SGD keeps its velocity in units
        of lr * gradient (v = mu v - lr g) where barenet's keeps gradients (b = mu b + g,
        step lr b): rescaling b by old/new lr keeps the two the same update, exactly."""
        optimizer = self._optimizer
        if isinstance(optimizer, SGD) and optimizer.buffers and lr > 0:
            for buffer in optimizer.buffers:
                buffer *= optimizer.lr / lr
        optimizer.lr = lr

    def _trigger_stopping(self, msg: str) -> bool:
        """sklearn's optimizers' rule: stop, or (sgd with learning_rate='adaptive') divide the
        learning rate by 5 until it falls to 1e-6."""
        verbose = bool(self.verbose)
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self._optimizer.lr <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._set_lr(self._optimizer.lr / 5.0)
        if verbose:
            print(msg + f" Setting learning rate to {self._optimizer.lr:f}")
        return False
