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
