"""What a run trained is what later commands see: ``evaluate`` scores with the run's own loss
(label smoothing included) and ``gradcheck RUN`` checks the head and loss the run trained."""

from __future__ import annotations

import json

import pytest

from barenet.cli import main


@pytest.mark.slow
def test_evaluate_scores_with_the_runs_label_smoothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--per-class", "30", "--layers", "16", "--epochs", "1", "--label-smoothing",
                 "0.2", "--threads", "1", "--no-report", "--quiet", "--out", str(run)]) == 0
    recorded = json.loads((run / "metrics.json").read_text())["test"]
    assert main(["evaluate", str(run), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["accuracy"] == recorded["accuracy"]
    assert scored["loss"] == pytest.approx(recorded["loss"], rel=1e-6)


@pytest.mark.slow
def test_gradcheck_of_a_run_checks_the_loss_it_trained_with(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--per-class", "20", "--layers", "4", "--epochs", "1", "--label-smoothing", "0.2",
                 "--threads", "1", "--no-report", "--quiet", "--out", str(run)]) == 0
    assert main(["gradcheck", str(run), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["passed"] and found["rows"]
    assert {(r["output"], r["loss"], r["label_smoothing"]) for r in found["rows"]} == {
        ("softmax", "cross_entropy", 0.2)}
