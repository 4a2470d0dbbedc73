"""The estimator's parameters: one constraint table, and what the table cannot say.

:data:`PARAMETER_CONSTRAINTS` declares the type and range of every constructor parameter in
scikit-learn's own terms (``Interval``, ``StrOptions``, ``"boolean"``, ...); scikit-learn's
validator checks it and words the error (``The 'solver' parameter of MLPClassifier must be a
str among {...}. Got 'lbfgs' instead.``). :func:`settings` then checks what relates one
parameter to another (one activation, dropout rate or initializer per layer) and returns them
normalized. Every refusal is a :class:`ParameterError`: a ``BarenetError`` that is also
scikit-learn's ``InvalidParameterError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

from ..errors import BarenetError

# sklearn's hidden activation names, and barenet's extra ones -> barenet's names.
HIDDEN = {"identity": "identity", "logistic": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh",
          "relu": "relu", "leaky_relu": "leaky_relu"}
DTYPES = ("float32", "float64")


def _at_least(kind: type, low: float, closed: str = "left") -> Interval:
    return Interval(kind, low, None, closed=closed)


def _unit(closed: str = "left") -> Interval:
    return Interval(Real, 0, 1, closed=closed)


PARAMETER_CONSTRAINTS: dict[str, list[Any]] = {
    "hidden_layer_sizes": ["array-like", _at_least(Integral, 1)],
    "activation": [StrOptions(set(HIDDEN)), list, tuple],
    "solver": [StrOptions({"sgd", "adam"})],
    "alpha": [_at_least(Real, 0)],
    "batch_size": [StrOptions({"auto", "full"}), _at_least(Integral, 1)],
    "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
    "learning_rate_init": [_at_least(Real, 0, "neither")],
    "power_t": [_at_least(Real, 0)],
    "max_iter": [_at_least(Integral, 1)],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [_at_least(Real, 0)],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [_unit()],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [_unit()],
    "beta_1": [_unit()],
    "beta_2": [_unit()],
    "epsilon": [_at_least(Real, 0, "neither")],
    "n_iter_no_change": [_at_least(Integral, 1), Options(Real, {np.inf})],
    "dropout": [_unit(), "array-like"],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "init": [str, list, tuple],
    "loss": [StrOptions({"log_loss", "squared_error"})],
    "callbacks": [list, tuple, None],
    "dtype": [StrOptions(set(DTYPES)), type, np.dtype, None],
}


class ParameterError(BarenetError, InvalidParameterError):
    """A parameter the estimator cannot use (a ``ValueError`` for both libraries)."""


def fail(message: str) -> ParameterError:
    """A parameter the estimator refuses."""
    return ParameterError(f"MLPClassifier: {message}")


def refuse(message: str) -> BarenetError:
    """Data (or a use of the parameters with these data) the estimator refuses."""
    return BarenetError(f"MLPClassifier: {message}")


@dataclass(frozen=True)
class Settings:
    """The validated parameters that need normalizing, one entry per layer where it applies."""

    hidden: list[int]
    activations: list[str]  # barenet names, one per hidden layer
    init_activation: str  # the activation sklearn's initialization scheme looks at last
    dropout: list[float]
    init: str | list[str]
    dtype: np.dtype | None
    callbacks: list[Any]


def settings(estimator: Any) -> Settings:
    """Check every parameter of ``estimator`` (the table, then the per-layer lists)."""
    params = estimator.get_params(deep=False)
    try:
        validate_parameter_constraints(PARAMETER_CONSTRAINTS, params,
                                       caller_name=type(estimator).__name__)
    except InvalidParameterError as exc:
        raise ParameterError(str(exc)) from None
    sizes = params["hidden_layer_sizes"]
    hidden = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if not all(isinstance(h, Integral) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise fail(f"hidden_layer_sizes must be a positive integer or a sequence of them, "
                   f"e.g. (100,) or [256, 128]; got {sizes!r}")
    hidden = [int(h) for h in hidden]
    n = len(hidden)
    activation = params["activation"]
    names = [activation] * n if isinstance(activation, str) else list(activation)
    unknown = [a for a in names if not isinstance(a, str) or a not in HIDDEN]
    if unknown:
        raise fail(f"unknown activation {unknown[0]!r}; choose one of: {', '.join(HIDDEN)}, "
                   "or give a list with one per hidden layer")
    activations = [HIDDEN[a] for a in _per_layer("activation", names, hidden, "names")]
    init_activation = (HIDDEN[activation] if isinstance(activation, str)
                       else (activations[-1] if activations else "relu"))
    rates = params["dropout"]
    rates = [rates] * n if isinstance(rates, Real) else list(np.asarray(rates).reshape(-1))
    if not all(isinstance(r, Real) and 0 <= r < 1 for r in rates):
        raise fail(f"dropout must be a rate in [0, 1) or a list of them; got {params['dropout']!r}")
    init = params["init"]
    if not isinstance(init, str):
        init = list(init)
        if len(init) != n + 1 or not all(isinstance(i, str) for i in init):
            raise fail(f"init must be an initializer name or a list of {n + 1} names, one per "
                       f"layer; got {params['init']!r}")
    if params["early_stopping"] and not params["validation_fraction"] > 0:
        raise fail("validation_fraction must be in (0, 1) with early_stopping=True; got "
                   f"{params['validation_fraction']!r}")
    dtype = params["dtype"]
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.name not in DTYPES:
            raise fail(f"dtype must be None, 'float32' or 'float64'; got {params['dtype']!r}")
    return Settings(hidden, activations, init_activation,
                    [float(r) for r in _per_layer("dropout", rates, hidden, "rates")], init, dtype,
                    list(params["callbacks"] or []))


def _per_layer(name: str, values: Sequence[Any], hidden: list[int], what: str) -> list[Any]:
    if len(values) != len(hidden):
        raise fail(f"{name} lists {len(values)} {what} for {len(hidden)} hidden layers {hidden}; "
                   f"give one per hidden layer, or a single {what[:-1]}")
    return list(values)
