"""Hyperparameter search: value parsing, grids, random draws, the validation-only trials, the
results CSV, the retrained best model, and the ``search`` command."""

from __future__ import annotations

import csv
import json

import pytest

import barenet.runner as runner
from barenet.cli import main
from barenet.config import TrainConfig
from barenet.errors import BarenetError
from barenet.search import grid, parse_space, parse_value, random_sample, run_trial, search

BASE = dict(per_class=20, layers=[8], epochs=1, batch_size=32)


def test_parse_values_by_option_type():
    assert parse_value("layers", "500,250") == [500, 250]
    assert parse_value("batch-size", "full") == "full"
    assert parse_value("batch_size", "100") == 100
    assert parse_value("lr", "1e-3") == 0.001
    assert parse_value("nesterov", "true") is True
    assert parse_value("early_stopping", "none") is None
    assert parse_value("init", "normal(0.01)") == "normal(0.01)"
    assert parse_space({"lr": ["0.1", "0.01"], "digits": ["1,5"]}) == {"lr": [0.1, 0.01], "digits": [[1, 5]]}
    with pytest.raises(BarenetError, match="--lr"):
        parse_value("lr", "fast")
    with pytest.raises(BarenetError, match="unknown option"):
        parse_value("learning_rate", "0.1")


def test_grid_and_random():
    space = {"lr": [0.1, 0.01, 0.001], "layers": [[8], [16, 8]]}
    points = grid(space)
    assert len(points) == 6 and {"lr": 0.01, "layers": [16, 8]} in points
    drawn = random_sample(space, 4, seed=1)
    assert len(drawn) == 4 and all(p in points for p in drawn)
    assert len({(p["lr"], tuple(p["layers"])) for p in drawn}) == 4
    assert random_sample(space, 4, seed=1) == drawn
    assert sorted(map(str, random_sample(space, 50))) == sorted(map(str, points))


def test_trials_never_see_the_test_set():
    row = run_trial(TrainConfig(**BASE).to_dict())
    assert row["val_accuracy"] is not None and row["error"] == ""


def test_search_ranks_by_validation_and_tests_only_the_best(tmp_path, monkeypatch):
    evaluated: list[int] = []
    original = runner._split_metrics

    def spy(model, loss, x, y, data, digits):
        evaluated.append(len(y))
        return original(model, loss, x, y, data, digits)

    monkeypatch.setattr(runner, "_split_metrics", spy)
    result = search(TrainConfig(**BASE), {"lr": [0.01, 0.001], "batch_size": [32, 10**6]}, out=tmp_path,
                    progress=False, report=False)
    assert evaluated.count(10000) == 1  # the test set, once, for the retrained best model
    accs = [r["val_accuracy"] for r in result.rows if r["val_accuracy"] is not None]
    assert accs == sorted(accs, reverse=True)
    assert result.best == {"lr": result.rows[0]["lr"], "batch_size": 32}
    assert result.test_accuracy is not None and 0 <= result.test_accuracy <= 1
    assert (result.run_dir / "model.npz").exists() and result.run_dir == tmp_path / "best"
    with open(result.csv_path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["rank"] for row in table] == ["1", "2", "3", "4"]
    assert table[0]["val_accuracy"] and "lr" in table[0]
    # a batch larger than the data is an invalid trial: kept in the table, ranked last
    assert [bool(row["error"]) for row in table] == [False, False, True, True]


@pytest.mark.slow  # worker processes
def test_parallel_random_search_with_refit(tmp_path):
    result = search(TrainConfig(**BASE), {"lr": [0.01, 0.003, 0.001], "layers": [[8], [16]]},
                    out=tmp_path, n_random=3, jobs=2, refit_on_all=True, progress=False, report=False)
    assert len(result.rows) == 3
    assert result.best_config.val_fraction == 0.0
    assert "validation" not in result.metrics and "test" in result.metrics


def test_the_refit_keeps_the_trials_epochs_but_outlasts_its_warm_up():
    from barenet.run.config import make_config
    from barenet.run.search import refit_epochs

    plain = make_config({}, epochs=10)
    warm = make_config({}, epochs=10, schedule="warmup(3)+cosine")
    assert refit_epochs({"best_epoch": 4, "epochs_run": 6}, plain) == 4
    assert refit_epochs({"best_epoch": None, "epochs_run": 6}, plain) == 6
    assert refit_epochs({}, plain) == 10
    assert refit_epochs({"best_epoch": 2}, warm) == 4  # 2 epochs would be warm-up only
    assert refit_epochs({"best_epoch": 7}, warm) == 7
    warm.epochs = refit_epochs({"best_epoch": 2}, warm)
    warm.validate()  # the refit's schedule is one a run accepts


def test_search_command(tmp_path, capsys):
    out = tmp_path / "s"
    code = main(["search", "--per-class", "20", "--epochs", "1", "--batch-size", "32",
                 "--layers", "8", "16,8", "--lr", "0.01", "0.001", "--out", str(out), "--json",
                 "--no-report"])
    assert code == 0
    reply = json.loads(capsys.readouterr().out)
    assert len(reply["trials"]) == 4 and reply["test_accuracy"] is not None
    assert set(reply["best"]) == {"layers", "lr"}
    assert (out / "search.csv").exists() and (out / "best" / "config.toml").exists()
    assert main(["search", "--lr", "abc", "--out", str(out)]) == 2
    assert "--lr must be a finite number > 0; got 'abc'" in capsys.readouterr().err
