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

The package: :mod:`.params` (the parameter constraints, one table), :mod:`.training` (sklearn's
training loop on barenet's ``MLP.forward``/``backward``, losses with sample weights and
optimizers with L2), :mod:`.estimator` (the class). It imports scikit-learn; ``import barenet``
never does (``pip install barenet[sklearn]``).
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "barenet.sklearn needs scikit-learn; install it with: pip install 'barenet[sklearn]'"
    ) from exc

from .estimator import MLPClassifier

__all__ = ["MLPClassifier"]
