"""Diagnosis: each failure mode, built on a small MNIST subset (or written as a history), is
named with its measured signals and a fix from the run's own settings; healthy runs are not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import barenet as bn
from barenet.cli import main
from barenet.errors import DivergenceError
from barenet.inspect.diagnose import Finding, LiveDiagnosis, activation_stats, assess, diagnose
from barenet.inspect.signals import LIMITS, MODES, baselines, mode_table
from barenet.run.config import TrainConfig
from barenet.run.report import RunView, run_diagnosis
from barenet.run.runner import train_run
from barenet.train.history import History

# Exercise E3: [784, 100, 100, 10], N(0, 1e-4) weights, softmax, summed cross-entropy, SGD.
E3 = dict(per_class=100, layers=[100, 100], hidden="sigmoid", init="normal(0.0001)", output="softmax",
          loss="cross_entropy", reduction="sum", optimizer="sgd", batch_size=100, lr=0.5, epochs=3)


def _run(**options):
    """Train with a LiveDiagnosis; return (result, final diagnosis, live findings)."""
    live = LiveDiagnosis(print_fn=lambda line: None)
    config = TrainConfig(**options)
    result = train_run(config, write=False, callbacks=[live])
    view = RunView(Path("."), config.to_dict(), result.history, result.metrics, result.model, result.data)
    return result, run_diagnosis(view), live.findings


def _codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def _find(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert found, f"no {code} in {[f.code for f in findings]}"
    return found[0]


def test_tanh_with_lr_10_is_lr_too_large_live_and_final():
    _, diagnosis, live = _run(per_class=30, layers=[32], epochs=2, hidden="tanh", optimizer="sgd", lr=10.0)
    finding = _find(diagnosis.findings, "lr_too_large")
    assert "--lr 10 -> 1 (sgd)" in finding.fix and "first batch" in finding.measured
    saturated = _find(diagnosis.findings, "saturated_units")
    assert saturated.title == "Saturated tanh units" and "sigmoid" not in saturated.title
    assert "--hidden tanh" in saturated.fix
    assert {"lr_too_large", "saturated_units"} <= _codes(live)  # the live warnings agree
    assert _codes(live) <= _codes(diagnosis.findings)
    assert not diagnosis.healthy


def test_relu_sgd_lr_10_names_the_run_settings_not_a_template():
    _, diagnosis, _ = _run(per_class=30, layers=[32], epochs=2, optimizer="sgd", lr=10.0)
    assert "lr_too_large" in _codes(diagnosis.findings)
    dead = _find(diagnosis.findings, "dead_relu")
    assert "normal(0.0001)" not in dead.fix and "he_normal" not in dead.fix  # the run used he_normal
    assert "--lr 10 -> 1" in dead.fix
    assert "dead" in dead.measured


@pytest.mark.parametrize("optimizer,suggested", [("adam", "0.001"), ("sgd", "0.1")])
def test_lr_1e7_is_too_small_with_healthy_gradients(optimizer, suggested):
    _, diagnosis, live = _run(per_class=30, layers=[32], epochs=2, lr=1e-7, optimizer=optimizer)
    finding = _find(diagnosis.findings, "lr_too_small")
    assert f"--lr 1e-07 -> {suggested}" in finding.fix
    assert "||ΔW|| / ||W||" in finding.measured and "gradient norms" in finding.measured
    assert "stuck_at_prior" in _codes(diagnosis.findings)
    stuck = _find(diagnosis.findings, "stuck_at_prior")
    assert "lr_too_small" in stuck.explanation  # names the finding it follows from
    assert "lr_too_small" in _codes(live)


def test_tiny_init_relu_is_dead_and_vanishing_with_the_run_init():
    _, diagnosis, live = _run(**{**E3, "hidden": "relu", "lr": 0.05, "per_class": 30})
    codes = _codes(diagnosis.findings)
    assert {"dead_relu", "vanishing_gradients", "stuck_at_prior"} <= codes
    dead = _find(diagnosis.findings, "dead_relu")
    assert "tiny" in dead.explanation and "--init normal(0.0001)" in dead.fix and "he_normal" in dead.fix
    assert "dead_relu" in _codes(live)


def test_e3_sigmoid_large_lr_is_saturation():
    _, diagnosis, _ = _run(**{**E3, "per_class": 30})
    codes = _codes(diagnosis.findings)
    assert {"saturated_units", "lr_too_large"} <= codes
    assert "--reduction mean" in _find(diagnosis.findings, "lr_too_large").fix
    assert _find(diagnosis.findings, "saturated_units").title == "Saturated sigmoid units"


def test_large_init_is_exploding_gradients():
    _, diagnosis, _ = _run(per_class=30, layers=[64, 64, 64], epochs=2, init="normal(1)", lr=1e-4)
    finding = _find(diagnosis.findings, "exploding_gradients")
    # the first batch is already far above the uniform guess: the init, not the step size
    assert "lr_too_large" not in _codes(diagnosis.findings)
    assert "--init normal(1)" in finding.fix and "he_normal" in finding.fix
    assert f"threshold {LIMITS.exploding_grad:g}" in finding.measured


def test_unscaled_input_is_named():
    lines: list[str] = []
    live = LiveDiagnosis(print_fn=lines.append)
    config = TrainConfig(per_class=30, layers=[32], epochs=2, normalize="none", hidden="sigmoid")
    result = train_run(config, write=False, callbacks=[live])
    assert "unscaled_input" in _codes(live.findings)
    assert any("--normalize 255" in line for line in lines)
    view = RunView(Path("."), config.to_dict(), result.history, result.metrics, result.model, result.data)
    diagnosis = run_diagnosis(view)
    assert "largest |input| 255" in _find(diagnosis.findings, "unscaled_input").measured
    assert "--normalize none" in _find(diagnosis.findings, "saturated_units").fix


def test_overfitting_names_the_best_epoch():
    _, diagnosis, _ = _run(per_class=20, layers=[256], epochs=10, val_fraction=0.5, schedule="constant",
                           batch_size=20, lr=0.01)
    finding = _find(diagnosis.findings, "overfitting")
    best = finding.evidence["best_val_epoch"]
    assert f"--epochs {best}" in finding.fix and "validation loss" in finding.measured


@pytest.fixture(scope="module")
def digits():
    from barenet.data import load_dataset
    from barenet.data.preprocess import first_per_class, flatten

    ds = load_dataset("mnist")
    x, y = first_per_class(ds.x_train, ds.y_train, 30)
    return flatten(x).astype(np.float32) / 255.0, y


def test_sigmoid_output_with_cross_entropy_is_a_loss_output_mismatch(digits):
    # The library now refuses this pairing before training (nn/losses.py), so the run of the
    # issue (sigmoid output + cross-entropy, 10 classes: loss 0.0000 at 26 % accuracy) is
    # written as its history, with a model of that head.
    x, y = digits
    model = bn.MLP([784, 32, 10], hidden="relu", output="sigmoid", seed=0)
    history = History([{"epoch": e, "train_loss": 0.3 / 10 ** e, "train_accuracy": 0.26,
                        "val_accuracy": 0.25, "grad_norm": [0.01, 0.01], "weight_change": [1.0, 1.0]}
                       for e in (1, 2, 3)])
    recipe = bn_recipe(output="sigmoid", loss="cross_entropy", hidden="relu", epochs=3)
    diagnosis = assess(history, model, x, y_sample=y, recipe=recipe)
    finding = _find(diagnosis.findings, "loss_output_mismatch")
    assert "the run pairs a sigmoid output with cross_entropy" in finding.fix
    assert "--output softmax --loss cross_entropy" in finding.fix and "accuracy 26.0 %" in finding.measured
    assert not diagnosis.healthy and "No problem" not in diagnosis.summary()


def test_negative_loss_with_low_accuracy_from_a_history():
    history = History([{"epoch": e, "train_loss": -5.0 * e, "train_accuracy": 0.12} for e in (1, 2, 3)])
    assert "loss_output_mismatch" in _codes(diagnose(history, n_classes=10))


def test_a_model_predicting_one_class(digits):
    x, y = digits
    model = bn.MLP([784, 16, 10], seed=0)
    model.dense_layers[-1].b[3] = 50.0  # the output bias picks class 3 for every image
    history = History([{"epoch": 1, "train_loss": 2.2, "train_accuracy": 0.1, "grad_norm": [0.5, 0.5],
                        "weight_change": [1.0, 1.0]}])
    finding = _find(diagnose(history, model, x, y_sample=y), "one_class")
    assert finding.evidence["class"] == 3 and "100 %" in finding.measured


def test_diverged_run_directory_is_diagnosed_from_what_it_recorded(tmp_path, capsys):
    out = tmp_path / "div"
    config = TrainConfig(per_class=20, layers=[16], epochs=4, output="identity", loss="squared_error",
                         optimizer="sgd", lr=10.0, batch_size=16)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError):
        train_run(config, out=out)
    assert json.loads((out / "metrics.json").read_text())["diverged"] is True
    assert main(["diagnose", str(out), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert "diverged" in {f["code"] for f in found["findings"]}
    assert not found["healthy"]
    assert main(["diagnose", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Training diverged" in text and "--lr 10 -> 1" in text and "not found" not in text
    lines = text.splitlines()
    assert len(lines) > 5 and not [line for line in lines if line != line.rstrip()]  # no padding


def test_rising_nan_and_stuck_histories():
    rising = History([{"epoch": i + 1, "train_loss": v, "train_accuracy": 0.5}
                      for i, v in enumerate([0.5, 0.4, 0.9, 1.5])])
    assert "lr_too_large" in _codes(diagnose(rising, n_classes=10))
    nan = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": math.nan}])
    assert _find(diagnose(nan), "diverged").epoch == 2
    stuck = History([{"epoch": i + 1, "train_loss": math.log(10) + 0.001, "train_accuracy": 0.11}
                     for i in range(3)])
    finding = _find(diagnose(stuck, n_classes=10, recipe=bn_recipe(epochs=3)), "stuck_at_prior")
    assert "--epochs 3 -> 6" in finding.fix


def bn_recipe(**fields):
    from barenet.inspect.signals import Recipe

    return Recipe(**fields)


def test_low_accuracy_alone_is_never_called_healthy():
    history = History([{"epoch": 1, "train_loss": 1.9, "train_accuracy": 0.3, "val_accuracy": 0.3}])
    diagnosis = assess(history, n_classes=10)
    assert "low_accuracy" in _codes(diagnosis.findings) and not diagnosis.healthy


def test_missing_signals_are_not_a_clean_bill_of_health():
    history = History([{"epoch": 1, "train_loss": 0.3, "train_accuracy": 0.95}])
    diagnosis = assess(history, n_classes=10)
    assert diagnosis.findings == [] and not diagnosis.healthy
    assert "not measured" in diagnosis.summary()


@pytest.mark.parametrize("options", [dict(per_class=100, layers=[32], epochs=2),
                                     dict(per_class=100, layers=[32], epochs=1),
                                     dict(per_class=100, layers=[32], epochs=2, digits=[1, 5]),
                                     dict(per_class=50, layers=[32, 16], epochs=2, hidden="tanh"),
                                     dict(per_class=50, layers=[32], epochs=2, optimizer="sgd", lr=0.1,
                                          momentum=0.9)])
def test_healthy_runs_raise_no_false_alarm(options):
    _, diagnosis, live = _run(**options)
    assert diagnosis.findings == [] and live == []
    assert diagnosis.healthy, [c for c in diagnosis.checks if c.ok is not True]


@pytest.mark.parametrize("options", [dict(input_dropout=0.95, val_fraction=0.0),
                                     dict(input_dropout=0.95), dict(noise=5.0, val_fraction=0.0)],
                         ids=["input-dropout-no-validation", "input-dropout", "noise"])
def test_heavy_regularization_is_judged_on_the_trained_model_not_the_noisy_history(options):
    # the history, measured with the noise on, reads a loss at or above the uniform guess;
    # the model in inference mode scores far above chance: not "stuck at the prior"
    result, diagnosis, _ = _run(per_class=100, layers=[192], epochs=3, **options)
    assert result.metrics["train"]["accuracy"] > 0.5
    assert diagnosis.findings == [], [f.code for f in diagnosis.findings]
    loss = next(c for c in diagnosis.checks if c.name == "loss")
    assert loss.ok is True and ("sample" in loss.signal or "validation" in loss.signal)


def test_a_failed_check_without_a_finding_is_not_called_problem_free():
    # train loss above the uniform guess, accuracy fine, no validation or model to look closer
    history = History([{"epoch": e, "train_loss": 2.5, "train_accuracy": 0.9} for e in (1, 2, 3)])
    diagnosis = assess(history, n_classes=10)
    loss = next(c for c in diagnosis.checks if c.name == "loss")
    assert loss.ok is False and not diagnosis.healthy
    summary = diagnosis.summary()
    assert not summary.startswith("No problem found") and "no evidence of health (loss" in summary


def test_one_hot_sample_targets_are_not_read_as_labels():
    # one-hot rows flattened would be read as labels 0, 0, 1, 0, ...: no sample accuracy then
    model = bn.MLP([4, 8, 3], seed=0)
    x = np.random.default_rng(0).random((30, 4))
    labels = np.arange(30) % 3
    history = History([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.2}])
    with_labels = assess(history, model, x, y_sample=labels, n_classes=3)
    with_rows = assess(history, model, x, y_sample=np.eye(3)[labels], n_classes=3)
    predicted = np.argmax(model.forward(x.astype(np.float32)), axis=1)
    share = np.bincount(predicted, minlength=3).max() / 30
    assert with_labels.checks[-1].signal.endswith(f"{100 * share:.0f} % of the sample")
    accuracy = next(c for c in with_rows.checks if c.name == "accuracy")
    assert accuracy.signal.startswith("accuracy 20.0 %")  # the history's, nothing else


def test_baselines():
    b = baselines(10)
    assert b.uniform_loss == pytest.approx(math.log(10)) and b.chance_accuracy == pytest.approx(0.1)
    y = np.array([0] * 90 + [1] * 10)
    pair = baselines(2, y, "binary_cross_entropy")
    assert pair.uniform_loss == pytest.approx(math.log(2))
    assert pair.prior_loss == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))
    assert pair.chance_accuracy == pytest.approx(0.9)


def test_docs_hold_the_mode_table():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "inspection.md").read_text(encoding="utf-8")
    assert mode_table() in doc, "regenerate the table: python -m barenet.inspect.signals"
    assert {m.code for m in MODES} >= {"lr_too_large", "lr_too_small", "vanishing_gradients",
                                       "exploding_gradients", "dead_relu", "saturated_units",
                                       "unscaled_input", "loss_output_mismatch", "overfitting",
                                       "one_class", "diverged"}


def test_activation_stats_shapes():
    model = bn.MLP([4, 3, 2], hidden="relu", seed=0)
    stats = activation_stats(model, np.ones((5, 4)))
    assert len(stats) == 1 and stats[0]["units"] == 3 and 0 <= stats[0]["dead_fraction"] <= 1
