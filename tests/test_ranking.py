"""ROC / precision-recall in NumPy agree with scikit-learn; most-confused pairs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from barenet.inspect.ranking import (
    average_precision,
    most_confused,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_and_pr_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    score = np.round(np.clip(0.3 * y + rng.normal(0.35, 0.25, 300), 0, 1), 2)  # ties included
    fpr, tpr, _ = roc_curve(y, score)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert roc_auc(y, score) == pytest.approx(skm.roc_auc_score(y, score))
    assert average_precision(y, score) == pytest.approx(skm.average_precision_score(y, score))
    precision, recall, _ = precision_recall_curve(y, score)
    sk_p, sk_r, _ = skm.precision_recall_curve(y, score)
    np.testing.assert_allclose(precision, sk_p[:-1][::-1])
    np.testing.assert_allclose(recall, sk_r[:-1][::-1])


def test_most_confused_pairs():
    cm = np.array([[50, 3, 0], [9, 40, 1], [0, 0, 20]])
    pairs = most_confused(cm, ["a", "b", "c"], k=5)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("b", "a", 9), ("a", "b", 3),
                                                                        ("b", "c", 1)]
    assert pairs[0]["share"] == pytest.approx(9 / 50)
