"""Learning-rate schedules against values worked out by hand."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import barenet as bn
from barenet.errors import BarenetError

BASE, TOTAL = 0.1, 10.0


def _lr(spec: str, t: float, total: float = TOTAL, base: float = BASE) -> float:
    return bn.get_schedule(spec)(base, t, total)


def test_constant():
    for spec in ("constant", None, "", " CONSTANT "):
        assert [_lr(spec, t) for t in (0, 3.7, 10, 50)] == [BASE] * 4


@pytest.mark.parametrize("t,expected", [(0, 0.1), (1.99, 0.1), (2, 0.05), (3.5, 0.05),
                                        (4, 0.025), (9.9, 0.1 * 0.5 ** 4)])
def test_step(t, expected):
    assert _lr("step(2,0.5)", t) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("t,expected", [(0, 0.1), (0.5, 0.1), (1, 0.09), (2.5, 0.081),
                                        (5, 0.1 * 0.59049)])
def test_exponential(t, expected):
    assert _lr("exponential(0.9)", t) == pytest.approx(expected, rel=1e-12)


def test_boundaries_survive_accumulated_progress():
    """Progress advances by 1/batches per batch; ten steps of 0.1 sum to 0.9999999999999999."""
    t = 0.0
    for _ in range(10):
        t += 0.1
    assert t < 1
    assert _lr("exponential(0.5)", t) == pytest.approx(0.05)
    assert _lr("step(1,0.5)", t) == pytest.approx(0.05)
    assert _lr("step(0.5,0.5)", t) == pytest.approx(0.025)


@pytest.mark.parametrize("t,expected", [(0, 0.1), (2.5, 0.1 * (1 + math.sqrt(0.5)) / 2),
                                        (5, 0.05), (7.5, 0.1 * (1 - math.sqrt(0.5)) / 2),
                                        (10, 0.0), (12, 0.0)])
def test_cosine(t, expected):
    assert _lr("cosine", t) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_cosine_with_a_floor():
    assert _lr("cosine(0.01)", 0) == pytest.approx(0.1)
    assert _lr("cosine(0.01)", 5) == pytest.approx(0.01 + 0.09 / 2)
    assert _lr("cosine(0.01)", 10) == pytest.approx(0.01)
    values = [_lr("cosine", t / 4) for t in range(41)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # never increases


def test_warmup_then_cosine():
    spec = "warmup(2)+cosine"
    assert _lr(spec, 0) == pytest.approx(0.1 * 0.01)  # starts tiny, not at zero
    assert _lr(spec, 0.5) == pytest.approx(0.1 * 0.25)
    assert _lr(spec, 1) == pytest.approx(0.05)
    assert _lr(spec, 2) == pytest.approx(0.1)  # the cosine starts after the warm-up...
    assert _lr(spec, 6) == pytest.approx(0.05)  # ...and runs over the remaining 8 epochs
    assert _lr(spec, 10) == pytest.approx(0.0, abs=1e-15)


def test_warmup_then_step_and_constant():
    assert _lr("warmup(1)+step(2,0.1)", 0.5) == pytest.approx(0.05)
    assert _lr("warmup(1)+step(2,0.1)", 2.5) == pytest.approx(0.1)
    assert _lr("warmup(1)+step(2,0.1)", 3.0) == pytest.approx(0.01)
    assert _lr("warmup(1) + constant", 4) == pytest.approx(0.1)


def test_schedule_keeps_its_spec():
    schedule = bn.get_schedule("step(10,0.5)")
    assert isinstance(schedule, bn.Schedule) and schedule.spec == "step(10,0.5)"


@pytest.mark.parametrize("spec,pattern", [
    ("bogus", "unknown schedule 'bogus'.*constant.*step.*exponential.*cosine"),
    ("step(1)", "step.*takes"),
    ("step(0,0.5)", "k > 0"),
    ("step(a,b)", "numbers"),
    ("exponential()", "exponential.*takes"),
    ("cosine(1,2)", "cosine.*takes"),
    ("constant(1)", "no arguments"),
    ("warmup(0)+cosine", "w > 0"),
    ("warmup(1)+warmup(1)+cosine", "only warmup"),
    ("cosine+warmup(1)", "only warmup"),
    ("warmup(1)+bogus", "unknown schedule 'bogus'"),
    ("step(2,0.5", "cannot read schedule"),
])
def test_bad_specs(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        bn.get_schedule(spec)


@pytest.mark.parametrize("spec, lr, epochs, fragment", [
    ("cosine(1)", 0.005, 5, "decays to min_lr 1, above the learning rate 0.005"),
    ("warmup(1)+cosine(0.1)", 0.01, 5, "decays to min_lr 0.1, above the learning rate 0.01"),
    ("warmup(5)+cosine", 0.001, 2, "warms up for 5 epochs, the whole run of 2"),
    ("warmup(3)+step(1,0.5)", 0.001, 3, "warms up for 3 epochs, the whole run of 3"),
])
def test_a_schedule_that_cannot_be_meant_is_refused_from_config_and_trainer(spec, lr, epochs, fragment):
    from barenet.run.config import make_config

    with pytest.raises(BarenetError, match=re.escape(fragment)):
        make_config({}, schedule=spec, lr=lr, epochs=epochs)
    trainer = bn.Trainer(bn.MLP([4, 2], seed=0), "cross_entropy", "adam", lr=lr, epochs=epochs, batch_size=4,
                         schedule=spec)
    with pytest.raises(BarenetError, match=re.escape(fragment)):
        trainer.fit(np.zeros((8, 4)), np.arange(8) % 2)
    assert trainer.history.epochs == []


@pytest.mark.parametrize("spec, lr, epochs", [("cosine(0.001)", 0.001, 5), ("warmup(2)+cosine", 0.01, 3),
                                              ("cosine(0.0001)", 0.01, 1), ("step(1,2)", 0.01, 2)])
def test_schedules_that_can_be_meant_are_accepted(spec, lr, epochs):
    from barenet.run.config import make_config

    assert make_config({}, schedule=spec, lr=lr, epochs=epochs).schedule == spec
