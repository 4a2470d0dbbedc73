"""benchmarks/bench.py's epoch-spread estimator: a slowdown barenet causes is caught, a slow
spell of the host on one run is not counted against barenet."""

from __future__ import annotations

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
