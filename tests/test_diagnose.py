"""Diagnosis: each failure reproduced on a small MNIST subset is named; a healthy run is not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from barenet.config import TrainConfig
from barenet.diagnose import Finding, LiveDiagnosis, activation_stats, diagnose
from barenet.errors import DivergenceError
from barenet.history import History
from barenet.runner import train_run

# Exercise E3: [784, 100, 100, 10], sigmoid hidden, N(0, 1e-4) weights, softmax, summed
# cross-entropy, plain SGD, batches of 100; eta 0.5 does not learn (saturated sigmoids).
E3 = dict(per_class=100, layers=[100, 100], hidden="sigmoid", init="normal(0.0001)", output="softmax",
          loss="cross_entropy", reduction="sum", optimizer="sgd", batch_size=100, lr=0.5, epochs=3)


def _run(**options):
    live = LiveDiagnosis(print_fn=lambda line: None)
    result = train_run(TrainConfig(**options), write=False, callbacks=[live])
    findings = diagnose(result.history, result.model, result.data.x_train, normalizer=result.data.normalizer,
                        n_classes=result.data.n_classes, reduction=result.loss.reduction,
                        n_train=len(result.data.x_train))
    return result, findings, live


def _codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_e3_sigmoid_large_lr_is_saturation():
    result, findings, live = _run(**E3)
    assert result.history.last["val_accuracy"] <= 0.2  # it really does not learn
    codes = _codes(findings)
    assert "saturated_sigmoid" in codes
    assert "lr_too_large" in codes
    assert "saturated_sigmoid" in _codes(live.findings)
    text = str(next(f for f in findings if f.code == "saturated_sigmoid"))
    assert "Fix:" in text and "learning rate" in text


def test_e3_relu_tiny_init_is_dead_relu_and_prior():
    result, findings, live = _run(**{**E3, "hidden": "relu", "lr": 0.05})
    assert result.history.last["val_accuracy"] <= 0.2
    codes = _codes(findings)
    assert {"dead_relu", "stuck_at_prior", "vanishing_gradients"} <= codes
    dead = next(f for f in findings if f.code == "dead_relu")
    assert "tiny" in dead.explanation and "he_normal" in dead.fix
    assert {"dead_relu", "stuck_at_prior"} <= _codes(live.findings)


def test_unscaled_input_is_named():
    lines: list[str] = []
    live = LiveDiagnosis(print_fn=lines.append)
    result = train_run(TrainConfig(per_class=20, layers=[16], epochs=1, normalize="none"), write=False,
                       callbacks=[live])
    assert "unscaled_input" in _codes(live.findings)
    assert any("--normalize 255" in line for line in lines)
    x = result.data.normalizer.transform(result.data.x_train[:50])
    assert "unscaled_input" in _codes(diagnose(result.history, result.model, x))


def test_divergence_is_learning_rate_too_large():
    from barenet.datasets import load_mnist
    from barenet.model import MLP
    from barenet.preprocess import Normalizer, first_per_class, flatten
    from barenet.training import Trainer

    ds = load_mnist()
    x, y = first_per_class(ds.x_train, ds.y_train, 20)
    model = MLP([784, 16, 10], hidden="identity", seed=0)
    trainer = Trainer(model, "cross_entropy", "sgd", lr=50.0, batch_size=20, epochs=3,
                      normalizer=Normalizer("none"))
    with np.errstate(all="ignore"), pytest.raises(DivergenceError) as caught:
        trainer.fit(flatten(x), y)
    findings = diagnose(trainer.history, error=str(caught.value))
    finding = next(f for f in findings if f.code == "lr_too_large")
    assert "smaller --lr" in finding.fix


def test_rising_and_nan_losses_from_a_history():
    rising = History([{"epoch": i + 1, "train_loss": v, "train_accuracy": 0.5}
                      for i, v in enumerate([0.5, 0.4, 0.9, 1.5])])
    assert "lr_too_large" in _codes(diagnose(rising, n_classes=10))
    nan = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": math.nan}])
    finding = next(f for f in diagnose(nan) if f.code == "lr_too_large")
    assert finding.epoch == 2
    stuck = History([{"epoch": i + 1, "train_loss": math.log(10) + 0.001, "train_accuracy": 0.11}
                     for i in range(3)])
    assert "stuck_at_prior" in _codes(diagnose(stuck, n_classes=10))


@pytest.mark.parametrize("options", [dict(per_class=100, layers=[32], epochs=2),
                                     dict(per_class=100, layers=[32], epochs=1),
                                     dict(per_class=100, layers=[32], epochs=2, digits=[1, 5])])
def test_healthy_run_has_no_warning(options):
    lines: list[str] = []
    live = LiveDiagnosis(print_fn=lines.append)
    result = train_run(TrainConfig(**options), write=False, callbacks=[live])
    findings = diagnose(result.history, result.model, result.data.x_train, normalizer=result.data.normalizer,
                        n_classes=result.data.n_classes)
    assert findings == []
    assert lines == []


def test_activation_stats_shapes():
    from barenet.model import MLP

    model = MLP([4, 3, 2], hidden="relu", seed=0)
    stats = activation_stats(model, np.ones((5, 4)))
    assert len(stats) == 1 and stats[0]["units"] == 3 and 0 <= stats[0]["dead_fraction"] <= 1
