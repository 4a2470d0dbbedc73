"""Sample weights: sklearn's checks, and ``class_weight`` folded into them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _check_sample_weight

from .params import refuse

Array = np.ndarray


def sample_weight_array(sample_weight: Any, X: Any) -> Array:
    """Validated non-negative float64 weights, one per sample (sklearn's checks and messages)."""
    try:
        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    except TypeError:  # pragma: no cover - scikit-learn < 1.6 named it only_non_negative
        return _check_sample_weight(sample_weight, X, dtype=np.float64, only_non_negative=True)


def combined_weights(sample_weight: Any, class_weight: Any, X: Any, y: Array, classes: Array,
                     multilabel: bool, incremental: bool) -> Array | None:
    """sample_weight times class_weight (checked against the labels ``y`` and ``classes``),
    or None when both are absent."""
    sw = None
    if sample_weight is not None:
        sw = sample_weight_array(sample_weight, X)
    cw = class_weight
    if cw is not None:
        if multilabel:
            raise refuse("class_weight applies to binary and multiclass targets, not "
                         "multilabel ones; weight the samples with sample_weight instead")
        if incremental and isinstance(cw, str):
            raise refuse("class_weight='balanced' needs all the labels at once and is not "
                         "supported by partial_fit; compute the weights with sklearn.utils."
                         "class_weight.compute_class_weight and pass them as a dict")
        if isinstance(cw, dict):
            unknown = [c for c in cw if c not in set(classes.tolist())]
            if unknown:
                raise refuse(f"class_weight names classes that are not in the labels: "
                            f"{unknown}; the classes are {classes.tolist()}")
            per_class = np.array([float(cw.get(c, 1.0)) for c in classes.tolist()])
            if not np.all(np.isfinite(per_class)) or per_class.min() < 0:
                raise refuse("class weights must be finite and non-negative")
            cweights = per_class[np.searchsorted(classes, y)]
        else:
            cweights = compute_sample_weight("balanced", y)
        sw = cweights if sw is None else sw * cweights
    if sw is None:
        return None
    if not np.any(sw > 0):
        raise refuse("the sample weights are all zero; at least one sample needs a positive "
                     "weight")
    if not multilabel and not incremental and len(np.unique(y[sw > 0])) < 2:
        raise refuse("only 1 class has samples with a positive weight; a classifier needs "
                     "samples of at least 2 classes")
    return sw
