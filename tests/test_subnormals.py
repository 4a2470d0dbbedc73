"""No subnormal floats in training (issue 16): they slow every operation down on many x86 CPUs.

Deterministic, no timing: the counts of subnormal entries (nonzero, below np.finfo(dtype).tiny)
in the optimizer state, weights, gradients and layer buffers must be zero. The training tests
use recipes that do reach the subnormal range without barenet.nn.subnormal's flushes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import barenet as bn
from barenet.nn.activations import get_activation, sigmoid, softmax
from barenet.nn.subnormal import (
    HEADROOM,
    count_subnormal,
    flush_decayed,
    flush_period,
    flush_tiny,
    subnormal_counts,
)
from barenet.run.config import make_config, read_toml
from barenet.run.runner import train_run

DTYPES = (np.float32, np.float64)


def test_count_subnormal_counts_only_nonzero_values_below_tiny():
    tiny = np.finfo(np.float32).tiny
    x = np.array([0.0, -0.0, tiny, -tiny, tiny / 2, -tiny / 4, 1e-45, 1.0], np.float32)
    assert count_subnormal(x) == 3
    assert count_subnormal(np.arange(5)) == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_flush_tiny_zeroes_below_the_threshold_and_keeps_the_rest_bit_for_bit(dtype):
    threshold = np.finfo(dtype).tiny * HEADROOM
    x = np.array([threshold / 3, -threshold / 2, threshold, -threshold * 2, 0.5, -3.0], dtype)
    kept = x[2:].copy()
    for scratch in (None, np.empty_like(x)):
        y = x.copy()
        assert flush_tiny(y, scratch) is y
        assert np.array_equal(y[:2], [0, 0]) and np.array_equal(y[2:], kept)


def test_flush_period_keeps_a_decaying_entry_normal_until_the_next_flush():
    for decay in (0.5, 0.9, 0.99, 0.999):
        period = flush_period(decay)
        assert decay ** period >= 1 / HEADROOM > decay ** (period + 1)
    assert flush_period(0.0) == 0  # no memory, nothing decays


def test_flush_decayed_runs_on_its_schedule_only():
    x = np.full(4, 1e-36, np.float32)
    period = flush_period(0.9)
    assert not flush_decayed(x, 0.9, period - 1, np.empty_like(x)) and x[0] == np.float32(1e-36)
    assert flush_decayed(x, 0.9, period, np.empty_like(x)) and not x.any()


@pytest.mark.parametrize("optimizer", [lambda: bn.Adam(1e-3), lambda: bn.AdamW(1e-3),
                                       lambda: bn.SGD(0.01, momentum=0.9),
                                       lambda: bn.SGD(0.01, momentum=0.9, nesterov=True)],
                         ids=["adam", "adamw", "sgd-momentum", "sgd-nesterov"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_state_of_a_zero_gradient_never_turns_subnormal(optimizer, dtype):
    """One real gradient, then zeros (a pixel never inked again, a dead unit): the state only
    decays, through the subnormal range without the flush (~800 steps in float32 at 0.9)."""
    model = bn.MLP([30, 8, 3], dtype=np.dtype(dtype).name, seed=0)
    params = model.params()
    opt = optimizer()
    for p in params:
        p.grad[...] = np.random.default_rng(0).standard_normal(p.grad.shape)
    opt.step(params)
    for p in params:
        p.grad[...] = 0
    steps = 9000 if dtype == np.float64 else 1200
    for step in range(steps):
        opt.step(params)
        if step % 25 == 0:  # a subnormal lasts 150 (float32) or 340 (float64) steps of *= 0.9
            counts = subnormal_counts(model, opt)
            assert not any(counts.values()), (opt.t, counts)


@pytest.mark.parametrize("dtype", DTYPES)
def test_saturated_sigmoid_and_softmax_give_zero_not_subnormal(dtype):
    """sigmoid(z) for z between -log(tiny) - 16 and -log(tiny) lies in the subnormal range."""
    z = -np.linspace(60, 800, 4001).astype(dtype)
    y = sigmoid(z)
    saturated = z < (-120 if dtype == np.float32 else -760)
    assert count_subnormal(y) == 0 and y[0] > 0 and np.all(y[saturated] == 0)
    logits = np.stack([np.zeros_like(z), z], axis=1)
    assert count_subnormal(softmax(logits)) == 0
    # the derivative times a small upstream gradient, too
    for name in ("sigmoid", "tanh", "softmax"):
        act = get_activation(name)
        out = act.forward(logits.copy())
        assert count_subnormal(act.backward(out, np.full_like(out, 1e-20))) == 0, name


def _watch(options: dict) -> list[tuple[int, dict]]:
    """Train ``options`` (one BLAS thread) and return every step's nonzero subnormal counts."""
    found = []

    class Watch:
        def on_batch_end(self, trainer, batch, n_batches, loss):
            counts = subnormal_counts(trainer.model, trainer.optimizer)
            if any(counts.values()):
                found.append((trainer.optimizer.t, counts))

    train_run(make_config(threads=1, **options), write=False, callbacks=[Watch()])
    return found


E1 = read_toml(Path(__file__).resolve().parent.parent / "examples" / "e1-1v5.toml")

#: Steps of the default recipe on 3000 images (2700 after the validation split): enough for the
#: Adam moments of dead ReLU units and of rarely inked pixels to decay into the subnormal range
#: without the flush (at beta1 = 0.9 a moment of 1e-5 with no gradient needs about 720 steps).
DEFAULT_STEPS = 960
_STEPS_PER_EPOCH = math.ceil(2700 / make_config().batch_size)

TRAINING_RECIPES = {
    # the default recipe (whatever its batch size) for at least DEFAULT_STEPS steps
    "default": dict(per_class=300, epochs=math.ceil(DEFAULT_STEPS / _STEPS_PER_EPOCH)),
    # E1 in float32: uniform(-1, 1) weights saturate the sigmoid output (squared error)
    "e1-sigmoid-output-float32": dict(E1, dtype="float32", per_class=200, batch_size=100, epochs=3),
    # sigmoid hidden layer, Adam, one sample a step: rare pixels' moments decay between visits
    "sigmoid-adam-batch-1": dict(layers=[64], hidden="sigmoid", per_class=60, batch_size=1, epochs=2,
                                 lr=1e-3, schedule="constant"),
    # batch normalization and noise (the record recipe's layers, narrow): its running
    # statistics, normalized batches and noise buffers too, for 1000 steps
    "batch-norm-noise": dict(layers=[64, 32], batch_norm=True, noise=0.3, input_noise=0.3, per_class=100,
                             batch_size=27, epochs=30),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRAINING_RECIPES))
def test_training_holds_no_subnormal_anywhere(name):
    """After every step: optimizer state, weights, gradients and activation buffers."""
    found = _watch(TRAINING_RECIPES[name])
    assert not found, f"{name}: subnormals at {len(found)} steps, first {found[0]}"
