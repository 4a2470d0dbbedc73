"""Shared helpers for the tests that interrupt and resume training."""

from __future__ import annotations


class InterruptAt:
    """A training callback that raises KeyboardInterrupt in the middle of an epoch, as Ctrl-C
    would: at ``batch`` (1-based) of ``epoch`` (1-based)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, n_batches, loss):
        if trainer.epoch + 1 == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def assert_resume_is_bit_identical(make_trainer, x, y, path):
    """Train ``make_trainer(callbacks)`` straight through, and again interrupted at epoch 3,
    batch 2 with a checkpoint at ``path`` and resumed from it: weights and batch losses equal."""
    import numpy as np
    import pytest

    from barenet.train.callbacks import Checkpoint
    from barenet.train.checkpoint import load_checkpoint, load_trainer_state

    straight = make_trainer([])
    straight.fit(x, y)
    first = make_trainer([InterruptAt(3, 2), Checkpoint(path)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(x, y)
    assert load_checkpoint(path)[0]["epoch"] == 2
    resumed = make_trainer([Checkpoint(path)])
    load_trainer_state(resumed, *load_checkpoint(path))
    resumed.fit(x, y)
    for a, b in zip(straight.model.get_weights(), resumed.model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert straight.history.batch_loss == resumed.history.batch_loss
