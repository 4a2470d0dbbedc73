"""The training loop and what it keeps: the Trainer, callbacks, checkpoints, the history, the
progress bar and the BLAS thread count."""
