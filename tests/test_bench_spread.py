"""benchmarks/bench.py's epoch-spread estimator: a slowdown barenet causes is caught, a slow
spell of the host on one run is not counted against barenet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench  # noqa: E402


def test_a_slowdown_in_every_run_is_caught():
    # epochs growing as a run goes on (subnormal floats did this), in each of three runs
    runs = [[3.0, 1.0, 1.3, 1.7, 2.0], [2.5, 1.02, 1.31, 1.72, 2.05], [2.8, 0.99, 1.28, 1.69, 1.98]]
    assert bench.epoch_spread(runs) == pytest.approx(1.98 / 0.99)


def test_a_slow_spell_on_one_run_is_not_counted():
    runs = [[3.0, 1.0, 1.6, 1.0, 1.01], [2.5, 1.02, 1.0, 1.03, 1.7], [2.8, 1.01, 1.02, 1.5, 1.0]]
    assert bench.epoch_spread(runs) == pytest.approx(1.0)  # each epoch has a quiet run
    assert bench.pooled_spread(runs) == pytest.approx(1.7 / 1.0)  # the pooled figure keeps it


def test_the_first_epoch_of_each_process_is_left_out():
    assert bench.epoch_spread([[9.0, 1.0, 1.1]]) == pytest.approx(1.1)
    assert bench.pooled_spread([[9.0, 1.0, 1.1], [5.0, 1.2, 1.0]]) == pytest.approx(1.2)
    assert bench.epoch_spread([[1.0]]) == 1.0  # a one-epoch run: nothing to leave out


def test_one_stalled_control_sample_does_not_speed_an_epoch_up():
    # 2026-12-07: one sample caught a stall of the host; with the mean, its epoch read 3x faster
    speed = bench.MachineSpeed()
    speed.samples = [0.0008] * 22 + [0.038]
    speed.on_epoch_end(None, {})
    assert speed.control_seconds == [pytest.approx(0.0008)]
    run = {"epoch_seconds": [0.5], "control_seconds": speed.control_seconds,
           "control_spent_seconds": speed.spent_seconds}
    assert bench.normalized_epochs(run)[0] == pytest.approx((0.5 - 22 * 0.0008 - 0.038) / 0.0008)


def test_the_bare_numpy_step_trains():
    # the ceiling the bench reports beside the epoch target is a real training step, not a no-op
    result = bench.worker_bare_step(argparse.Namespace(epochs=1))
    assert len(result["epoch_seconds"]) == 1
    assert result["train_accuracy"] > 0.9  # barenet's own first epoch reaches about 0.93
    assert all(0 < norm < 10 for norm in result["last_norms"])
