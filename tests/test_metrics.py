"""Tests for barenet.metrics: against scikit-learn on random data, hand-computed tiny cases,
and edge cases (a class never predicted, empty or mismatched inputs)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from barenet.errors import DataError
from barenet.metrics import (
    accuracy,
    binary_outcome_indices,
    binary_outcomes,
    classification_report,
    confusion_matrix,
    log_loss,
    per_sample_log_loss,
    precision_recall_f1,
    worst_predictions,
)


def _random_labels(seed: int, n: int = 500, c: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, n)
    # predictions correct ~60 % of the time so every cell is populated
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, c, n))
    return t, p


def _softmax_rows(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    z = rng.normal(size=(n, c)) * 2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- vs sklearn
@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_on_random_labels(seed):
    t, p = _random_labels(seed)
    c = 7
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    cm = confusion_matrix(t, p, n_classes=c)
    assert cm.dtype == np.int64 and cm.shape == (c, c)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(t, p, labels=np.arange(c)))
    scores = precision_recall_f1(cm)
    pr, rc, f1, sup = skm.precision_recall_fscore_support(
        t, p, labels=np.arange(c), zero_division=0)
    np.testing.assert_allclose(scores["precision"], pr)
    np.testing.assert_allclose(scores["recall"], rc)
    np.testing.assert_allclose(scores["f1"], f1)
    np.testing.assert_array_equal(scores["support"], sup)
    mp, mr, mf, _ = skm.precision_recall_fscore_support(
        t, p, labels=np.arange(c), average="macro", zero_division=0)
    assert scores["macro_precision"] == pytest.approx(mp)
    assert scores["macro_recall"] == pytest.approx(mr)
    assert scores["macro_f1"] == pytest.approx(mf)


@pytest.mark.parametrize("seed", range(3))
def test_log_loss_matches_sklearn_softmax(seed):
    rng = np.random.default_rng(seed)
    proba = _softmax_rows(rng, 300, 5)
    t = rng.integers(0, 5, 300)
    assert log_loss(proba, t) == pytest.approx(skm.log_loss(t, proba, labels=np.arange(5)))


@pytest.mark.parametrize("shape", [(200, 1), (200,)])
def test_log_loss_matches_sklearn_sigmoid(shape):
    rng = np.random.default_rng(1)
    p1 = rng.uniform(0.01, 0.99, 200)
    t = rng.integers(0, 2, 200)
    assert log_loss(p1.reshape(shape), t) == pytest.approx(skm.log_loss(t, p1))
    # the (N, 1) form equals the two-column softmax form [1 - p, p]
    assert log_loss(p1[:, None], t) == pytest.approx(log_loss(np.c_[1 - p1, p1], t))


# ----------------------------------------------------------------------------- by hand
def test_tiny_case_by_hand():
    t = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 2, 0]
    cm = confusion_matrix(t, p)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    s = precision_recall_f1(cm)
    np.testing.assert_allclose(s["precision"], [1 / 2, 2 / 3, 1 / 1])
    np.testing.assert_allclose(s["recall"], [1 / 2, 2 / 2, 1 / 2])
    np.testing.assert_allclose(s["f1"], [0.5, 0.8, 2 / 3])
    np.testing.assert_array_equal(s["support"], [2, 2, 2])
    assert accuracy(t, p) == pytest.approx(4 / 6)
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_log_loss_by_hand_and_clipping():
    proba = np.array([[0.5, 0.5], [0.9, 0.1], [0.0, 1.0]])
    t = np.array([0, 1, 0])
    losses = per_sample_log_loss(proba, t, eps=1e-15)
    np.testing.assert_allclose(losses, [np.log(2), -np.log(0.1), -np.log(1e-15)])
    assert np.isfinite(log_loss(proba, t))
    # float32 probabilities clip at the training losses' margin (1e-7)
    assert per_sample_log_loss(proba.astype(np.float32), t)[2] == pytest.approx(-np.log(1e-7))


def test_class_never_predicted_gives_zero_precision_without_warning():
    t = [0, 1, 2, 2]
    p = [0, 1, 1, 1]  # class 2 is never predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = precision_recall_f1(confusion_matrix(t, p))
    assert s["precision"][2] == 0.0 and s["recall"][2] == 0.0 and s["f1"][2] == 0.0
    pr, rc, f1, _ = skm.precision_recall_fscore_support(t, p, zero_division=0)
    np.testing.assert_allclose(s["precision"], pr)
    np.testing.assert_allclose(s["f1"], f1)


def test_confusion_matrix_n_classes_pads_and_checks_range():
    cm = confusion_matrix([0, 1], [1, 1], n_classes=4)
    assert cm.shape == (4, 4) and cm.sum() == 2 and cm[0, 1] == 1 and cm[1, 1] == 1
    with pytest.raises(DataError, match="outside"):
        confusion_matrix([0, 5], [0, 1], n_classes=3)


@pytest.mark.parametrize(
    "t, p, match",
    [
        ([0, 1], [0], "labels"),
        ([], [], "no samples"),
        ([0, -1], [0, 0], "negative"),
        ([0.5, 1], [0, 1], "whole-number"),
        (np.zeros((2, 3)), [0, 1], "1-D"),
        (["a", "b"], [0, 1], "integer"),
    ],
)
def test_bad_labels_raise_data_error(t, p, match):
    with pytest.raises(DataError, match=match):
        accuracy(t, p)


def test_labels_accept_column_bool_and_integral_floats():
    assert accuracy(np.array([[1], [0]]), np.array([True, False])) == 1.0
    assert accuracy(np.array([1.0, 2.0]), [1, 2]) == 1.0


def test_bad_proba_raises():
    with pytest.raises(DataError, match="NaN"):
        log_loss([[np.nan, 1.0]], [0])
    with pytest.raises(DataError, match="rows"):
        log_loss(np.full((3, 2), 0.5), [0, 1])
    with pytest.raises(DataError, match="outside"):
        log_loss(np.full((2, 2), 0.5), [0, 2])
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        log_loss([[3.0, -2.0]], [0])


def test_bad_confusion_matrix():
    with pytest.raises(DataError, match="square"):
        precision_recall_f1(np.zeros((2, 3), dtype=int))
    with pytest.raises(DataError, match="integer"):
        precision_recall_f1(np.zeros((2, 2)))


# ----------------------------------------------------------------------------- worst
def test_worst_predictions_order_and_content():
    rng = np.random.default_rng(3)
    proba = _softmax_rows(rng, 50, 4)
    t = rng.integers(0, 4, 50)
    worst = worst_predictions(proba, t, k=5)
    losses = per_sample_log_loss(proba, t)
    assert [w["index"] for w in worst] == list(np.argsort(-losses)[:5])
    assert all(a["loss"] >= b["loss"] for a, b in zip(worst[:-1], worst[1:], strict=True))
    w = worst[0]
    i = w["index"]
    assert w["true"] == t[i] and w["predicted"] == int(np.argmax(proba[i]))
    assert w["proba"] == pytest.approx(proba[i].tolist())
    assert w["true_proba"] == pytest.approx(proba[i, t[i]])
    assert w["loss"] == pytest.approx(-np.log(proba[i, t[i]]))
    json.dumps(worst)  # JSON-ready


def test_worst_predictions_sigmoid_ties_and_k():
    proba = np.array([[0.9], [0.2], [0.9], [0.6]])
    t = np.array([0, 1, 0, 1])
    worst = worst_predictions(proba, t, k=10)
    assert len(worst) == 4
    # samples 0 and 2 tie (loss -log 0.1): lower index first
    assert [w["index"] for w in worst] == [0, 2, 1, 3]
    assert worst[0]["predicted"] == 1 and worst[0]["proba"] == pytest.approx([0.1, 0.9])
    assert worst[2]["predicted"] == 0
    assert worst_predictions(proba, t, k=0) == []
    with pytest.raises(DataError):
        worst_predictions(proba, t, k=-1)


# ----------------------------------------------------------------------------- binary
def test_binary_outcomes_in_digit_terms():
    t = np.array([1, 1, 0, 0, 1, 0, 1])
    p = np.array([1, 0, 0, 1, 1, 0, 0])
    out = binary_outcomes(t, p, digits=(1, 5))
    assert out["positive_digit"] == 5 and out["negative_digit"] == 1
    assert (out["TP"], out["FP"], out["TN"], out["FN"]) == (2, 1, 2, 2)
    assert out["meaning"] == {"TP": "true 5 predicted 5", "FP": "true 1 predicted 5",
                              "TN": "true 1 predicted 1", "FN": "true 5 predicted 1"}
    idx = binary_outcome_indices(t, p)
    assert {k: v.tolist() for k, v in idx.items()} == {
        "TP": [0, 4], "FP": [3], "TN": [2, 5], "FN": [1, 6]}
    assert sum(len(v) for v in idx.values()) == len(t)
    sk = skm.confusion_matrix(t, p).ravel()  # tn, fp, fn, tp
    assert (out["TN"], out["FP"], out["FN"], out["TP"]) == tuple(sk)
    json.dumps(out)


def test_binary_outcomes_rejects_non_binary_labels():
    with pytest.raises(DataError, match="0/1"):
        binary_outcomes([0, 2], [0, 1], digits=(7, 9))
    with pytest.raises(DataError, match="pair"):
        binary_outcomes([0, 1], [0, 1], digits=(7,))


# ----------------------------------------------------------------------------- report
def test_classification_report_is_json_and_consistent():
    t, p = _random_labels(7, n=200, c=3)
    rep = classification_report(t, p, class_names=["zero", "one", "two"])
    text = json.dumps(rep)
    assert json.loads(text) == rep
    assert rep["n_samples"] == 200
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert rep["confusion_matrix"] == skm.confusion_matrix(t, p).tolist()
    assert [c["name"] for c in rep["classes"]] == ["zero", "one", "two"]
    sk = skm.classification_report(t, p, output_dict=True, zero_division=0)
    for i, row in enumerate(rep["classes"]):
        assert row["precision"] == pytest.approx(sk[str(i)]["precision"])
        assert row["recall"] == pytest.approx(sk[str(i)]["recall"])
        assert row["f1"] == pytest.approx(sk[str(i)]["f1-score"])
        assert row["support"] == sk[str(i)]["support"]
    assert rep["macro_f1"] == pytest.approx(sk["macro avg"]["f1-score"])


def test_classification_report_default_names_and_padding():
    rep = classification_report([0, 1], [0, 1])
    assert [c["name"] for c in rep["classes"]] == ["0", "1"]
    rep = classification_report([0, 1], [0, 1], class_names=[1, 5, 9])
    assert len(rep["confusion_matrix"]) == 3 and rep["classes"][2]["support"] == 0
