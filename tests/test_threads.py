"""BLAS thread count: validation, the measured choice, the context manager and the run record."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from barenet.config import TrainConfig
from barenet.errors import BarenetError
from barenet.runner import train_run
from barenet.threads import (
    MEASURED_ROWS,
    available_threads,
    blas_threads,
    check_threads,
    choose_threads,
    resolve_threads,
    time_step,
)


def _blas_threads_now() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.mark.parametrize("spec, expected", [("auto", "auto"), (1, 1), ("2", 2), (" 3 ", 3)])
def test_check_threads_accepts_auto_and_positive_numbers(spec, expected):
    assert check_threads(spec) == expected


@pytest.mark.parametrize("spec", [0, -1, "0", "many", "", 1.5, "1.5", True, None])
def test_check_threads_rejects_the_rest_in_one_line(spec):
    with pytest.raises(BarenetError, match="--threads must be 'auto' or a positive whole number"):
        check_threads(spec)


def test_choose_threads_keeps_the_fastest_and_budgets_the_rest():
    seconds = {1: 0.004, 2: 0.001, 3: 0.002}
    budgets = []

    def measure(threads, shape, budget):
        budgets.append(budget)
        return seconds[threads]

    assert choose_threads((128, 784, 256), [1, 2, 3], measure) == 2
    assert budgets == [math.inf, 2 * 9 * 0.004, 2 * 9 * 0.001]
    seconds = {1: 0.001, 2: math.inf}  # a count that ran out of budget never wins
    assert choose_threads((128, 784, 256), [1, 2], measure) == 1


def test_choose_threads_times_a_big_batch_with_fewer_rows():
    shapes = []

    def measure(threads, shape, budget):
        shapes.append(shape)
        return 0.001 * threads

    assert choose_threads((60000, 784, 256), [1, 2], measure) == 1
    assert shapes == [(MEASURED_ROWS, 784, 256)] * 2
    shapes.clear()
    choose_threads((100, 784, 256), [1, 2], measure)
    assert shapes == [(100, 784, 256)] * 2


def test_choose_threads_does_not_measure_a_single_candidate():
    def measure(*args, **kwargs):
        raise AssertionError("measured")

    assert choose_threads((1, 1, 1), [3], measure) == 3


def test_time_step_measures_and_gives_up_over_budget():
    seconds = time_step(1, (16, 32, 8), repeats=3)
    assert 0 < seconds < 1
    assert time_step(1, (256, 256, 256), repeats=50, budget=0.0) == math.inf


def test_blas_threads_sets_then_restores():
    before = _blas_threads_now()
    with blas_threads(2):
        assert _blas_threads_now() == 2 == available_threads()
    assert _blas_threads_now() == before
    with pytest.raises(RuntimeError), blas_threads(2):
        raise RuntimeError("restored even on errors")
    assert _blas_threads_now() == before


def test_resolve_threads():
    assert resolve_threads(3, (1, 1, 1)) == 3
    with blas_threads(1):  # one thread available: "auto" has nothing to choose from
        assert resolve_threads("auto", (128, 784, 256)) == 1
    with blas_threads(2):
        assert resolve_threads("auto", (128, 784, 256)) in (1, 2)


def test_a_run_trains_with_the_resolved_count_and_records_it(tmp_path):
    seen = []

    class Spy:
        def on_epoch_end(self, trainer, record):
            seen.append(_blas_threads_now())

    before = _blas_threads_now()
    config = TrainConfig(per_class=10, layers=[8], epochs=2, val_fraction=0.0, batch_size=20,
                         threads=2)
    train_run(config, out=tmp_path / "run", callbacks=[Spy()])
    assert seen == [2, 2]
    assert _blas_threads_now() == before
    assert "threads = 2" in (tmp_path / "run" / "config.toml").read_text()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["blas_threads"] == 2

    auto = TrainConfig(per_class=10, layers=[8], epochs=1, val_fraction=0.0, batch_size=20)
    assert auto.threads == "auto"
    with blas_threads(1):  # one thread available: "auto" resolves to 1 without measuring
        train_run(auto, out=tmp_path / "auto")
    assert "threads = 1" in (tmp_path / "auto" / "config.toml").read_text()
    assert np.isfinite(json.loads((tmp_path / "auto" / "metrics.json").read_text())["blas_threads"])


def test_cli_rejects_a_bad_thread_count_in_one_line(capsys):
    from barenet.cli import main

    assert main(["train", "--threads", "0", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--threads must be" in err


@pytest.mark.slow
def test_an_auto_run_is_repeated_with_the_count_it_chose_not_a_new_measurement(tmp_path, capsys,
                                                                               monkeypatch):
    """--threads auto may choose differently on a busy machine; RUN/config.toml pins the count
    it chose, and barenet train prints the command that repeats the run."""
    from barenet.cli import main
    from barenet.train import threads

    monkeypatch.setattr(threads, "choose_threads", lambda shape: 2)
    small = ["--per-class", "10", "--layers", "8", "--epochs", "1", "--val-fraction", "0",
             "--batch-size", "20", "--no-report"]
    assert main(["train", *small, "--out", str(tmp_path / "first")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    config = tmp_path / "first" / "config.toml"
    assert "threads = 2" in config.read_text()
    assert f"barenet train --config {config} repeats this run bit for bit" in out

    def must_not_measure(shape):
        raise AssertionError("a run from RUN/config.toml measured the thread count again")

    monkeypatch.setattr(threads, "choose_threads", must_not_measure)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    assert json.loads((tmp_path / "again" / "metrics.json").read_text())["blas_threads"] == 2
