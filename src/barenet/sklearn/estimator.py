"""The estimator class: scikit-learn's interface on a :class:`barenet.MLP`.

Parameters are declared in :mod:`barenet.sklearn.params`, the training loop is in
:mod:`barenet.sklearn.training`; this module holds the interface: ``fit``, ``partial_fit``,
``predict*``, the label and sample-weight handling, and building the network.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


from ..errors import BarenetError
from ..nn.losses import check_pairing
from ..nn.model import MLP
from ..train.history import History
from .params import PARAMETER_CONSTRAINTS, Settings, refuse, settings
from .training import StochasticTraining, rows_in_batches
from .weights import combined_weights, sample_weight_array

Array = np.ndarray


def _copy_callback(callback: Any) -> Any:
    """A deep copy for :func:`sklearn.clone`, or the callback itself when it cannot be copied
    (a progress bar holds a terminal and a lock): such callbacks are shared between clones."""
    try:
        return copy.deepcopy(callback)
    except Exception:
        return callback


class MLPClassifier(ClassifierMixin, StochasticTraining, BaseEstimator):
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
        (see :mod:`barenet.train.callbacks`); ``trainer`` is a
        :class:`~barenet.sklearn.training.TrainingRun` holding the model, optimizer, history,
        epoch and epochs as a Trainer does, plus ``trainer.estimator`` (this estimator).
        Setting ``trainer.stop_training = True`` stops after the epoch.
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

    _parameter_constraints = PARAMETER_CONSTRAINTS

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
        settings(self)  # bad parameters first, as fit
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            y_arr = y if sp.issparse(y) else np.asarray(y)
            if y_arr.ndim == 2 and y_arr.shape[1] > 1:
                self._label_binarizer.fit(y_arr)
            else:
                self._label_binarizer.fit(classes)
            if len(self._label_binarizer.classes_) < 2:
                raise refuse(f"classes must list at least 2 classes; got {list(classes)}")
        return self._fit(X, y, sample_weight, incremental=True, validation=(None, None, None))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order (for a
        multilabel target: the probability of each label)."""
        p = rows_in_batches(self._validated(X), self.model_.forward)
        if self.n_outputs_ == 1:
            return np.hstack([1 - p, p])
        return p

    def predict_log_proba(self, X: Any) -> Array:
        """log of :meth:`predict_proba`, computed from the output pre-activations (finite even
        where a probability rounds to 0)."""
        z = rows_in_batches(self._validated(X), self.model_.logits)
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

    # ------------------------------------------------------------------ fitted weights
    @property
    def coefs_(self) -> list[Array]:
        """The weight matrices (n_in, n_out): the model's own arrays. Assigning a list of
        arrays of the same shapes copies them into the model (they are then predicted with,
        and trained on with ``warm_start``)."""
        return [layer.W for layer in self.model_.dense_layers]

    @coefs_.setter
    def coefs_(self, arrays: Sequence[Array]) -> None:
        self.model_.set_weights([a for pair in zip(arrays, self.intercepts_, strict=True) for a in pair])

    @property
    def intercepts_(self) -> list[Array]:
        """The bias vectors (n_out,): the model's own arrays (assignable like ``coefs_``)."""
        return [layer.b for layer in self.model_.dense_layers]

    @intercepts_.setter
    def intercepts_(self, arrays: Sequence[Array]) -> None:
        self.model_.set_weights([a for pair in zip(self.coefs_, arrays, strict=True) for a in pair])

    def _validated(self, X: Any) -> Any:
        """X checked against the fit (features, names) and cast to the model's dtype."""
        check_is_fitted(self)
        X = _validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                           reset=False)
        return X.astype(self.model_.dtype, copy=False)

    # ------------------------------------------------------------------ training
    def _fit(self, X: Any, y: Any, sample_weight: Any, *, incremental: bool,
             validation: tuple[Any, Any, Any]) -> MLPClassifier:
        cfg = settings(self)
        if self.early_stopping and incremental:
            raise refuse("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
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

        sw = combined_weights(sample_weight, self.class_weight, X, y, self.classes_, multilabel,
                              incremental)
        dtype = (cfg.dtype or X.dtype) if first_pass else self.model_.dtype
        X = X.astype(dtype, copy=False)
        if sp.issparse(X):
            X = X.tocsr()  # row batches

        X_val = y_val_labels = sw_val = None
        X_val_in, y_val_in, sw_val_in = validation
        if X_val_in is not None or y_val_in is not None:
            if X_val_in is None or y_val_in is None:
                raise refuse("give both X_val and y_val, or neither")
            X_val, y_val_labels, sw_val = self._validation_data(X_val_in, y_val_in, sw_val_in, dtype)
        elif sw_val_in is not None:
            raise refuse("sample_weight_val needs X_val and y_val")

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
                raise refuse("the validation set is too small; increase validation_fraction or "
                             "the size of your data set")
            X_train, X_val = X[train_idx], X[val_idx]
            t_train = targets[train_idx]
            y_val_labels = self._label_binarizer.inverse_transform(
                T[val_idx] if n_out > 1 else T[val_idx].ravel())
            if sw is not None:
                sw_train, sw_val = sw[train_idx], sw[val_idx]

        self._run_epochs(cfg.callbacks, model, X_train, t_train, sw_train, X_val, y_val_labels, sw_val, rs,
                         incremental)
        return self

    def _fit_labels(self, y: Array, incremental: bool) -> None:
        """Fit the label binarizer (``classes_``) on a first fit, or check the labels agree."""
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            binarizer = LabelBinarizer()
            binarizer.fit(y)
            if len(binarizer.classes_) < 2:
                raise refuse(f"the training labels hold only 1 class ({binarizer.classes_[0]!r}); "
                             "a classifier needs samples of at least 2 classes")
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
            return
        classes = unique_labels(y)
        if self.warm_start and not incremental:
            if set(classes) != set(self.classes_):
                raise refuse(f"warm_start can only be used where y has the same classes as the "
                             f"previous fit; previously got {self.classes_}, y has {classes}")
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise refuse(f"y has classes not in classes_ {self.classes_}: y has {classes}")

    def _validation_data(self, X_val: Any, y_val: Any, sw_val: Any, dtype: np.dtype) -> tuple:
        X_val, y_val = _validate_data(self, X_val, y_val, accept_sparse=["csr", "csc"],
                                      multi_output=True, dtype=(np.float64, np.float32), reset=False)
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = column_or_1d(y_val, warn=True)
        unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
        if len(unknown):
            raise refuse(f"y_val has classes not in the training labels: {unknown.tolist()}")
        if X_val.shape[0] < 1:
            raise refuse("the validation set X_val is empty")
        if sw_val is not None:
            sw_val = sample_weight_array(sw_val, X_val)
        return X_val.astype(dtype, copy=False), y_val, sw_val

    def _initialize(self, cfg: Settings, n_features: int, n_out: int, dtype: np.dtype,
                    rs: np.random.RandomState, multiclass: bool) -> None:
        """Build the network and reset every fitted attribute (a first fit)."""
        sizes = [n_features, *cfg.hidden, n_out]
        output = "softmax" if multiclass else "sigmoid"
        sklearn_init = cfg.init == "sklearn"
        weights, specs = [], []
        if sklearn_init:
            # sklearn's _init_coef, draw for draw: weights then biases, layer by layer
            acts = cfg.activations + [cfg.init_activation]
            for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                factor = 2.0 if acts[i] == "sigmoid" else 6.0
                bound = float(np.sqrt(factor / (fan_in + fan_out)))
                weights.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
                weights.append(rs.uniform(-bound, bound, fan_out).astype(dtype))
                # the weights' distribution in barenet's terms (saved with the model)
                specs.append("xavier_uniform" if factor == 6.0 else f"uniform({-bound!r},{bound!r})")
        seed = (int(self.random_state) if isinstance(self.random_state, numbers.Integral)
                else int(rs.randint(2**31 - 1)))
        try:
            model = MLP(sizes, hidden=cfg.activations, output=output,
                        init="zeros" if sklearn_init else cfg.init, dropout=cfg.dropout,
                        dtype=dtype, seed=seed)
        except BarenetError as exc:
            raise refuse(str(exc)) from None
        if sklearn_init:
            model.inits = specs
            model.set_weights(weights)
        self.model_ = model
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_out
        self.out_activation_ = "softmax" if multiclass else "logistic"
        try:  # the output/loss pairings barenet refuses everywhere (never one the table allows)
            check_pairing(model.output, self._barenet_loss().name, n_out)
        except BarenetError as exc:
            raise refuse(str(exc)) from None
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

    def _check_continuation(self, cfg: Settings, n_features: int, n_out: int) -> None:
        """warm_start / partial_fit: the architecture must be the one already trained."""
        model: MLP = self.model_
        sizes = [n_features, *cfg.hidden, n_out]
        if (model.sizes != sizes or model.hidden != cfg.activations
                or model.dropout != cfg.dropout):
            raise refuse(f"cannot continue training a {model.sizes} network ({model.hidden}, "
                         f"dropout {model.dropout}) as {sizes} ({cfg.activations}, dropout "
                         f"{cfg.dropout}); set warm_start=False to start over")
