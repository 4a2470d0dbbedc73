"""Will a run fit in memory? An estimate from the configuration, checked before anything is
allocated (``--layers 10000000`` would ask for tens of GiB and die in NumPy).

For a network with layer sizes n_0 .. n_L (n_0 the inputs), P = sum_l (n_{l-1} + 1) n_l
parameters, a batch of B rows and s bytes per number (4 in float32), training holds about

    s * P * (2 + k)            the weights, their gradients and k optimizer slots
                               (k = 2 for Adam/AdamW, 1 for SGD with momentum, 0 without)
  + s * P * (1 + k)            the copy of the last epoch's state that a divergence rolls back to
  + s * P                      the best weights, with early stopping
  + s * max(B (n_0 (1 + a_0) + (3 + a) sum_l n_l),   a training batch as floats, and per
            E (n_0 + sum_l n_l))    layer its output, its activation and the gradient flowing
                                    back; or an evaluation batch of E = 4096 rows and one
                                    output per layer

where a (hidden layers) and a_0 (inputs) count the extra (B, n) buffers each unit's layers keep
in training: 2 for dropout (the mask and the output), 2 for Gaussian noise (the noise and the
output), 2 for batch normalization (the normalized batch and a scratch buffer for backward).

The data themselves are already loaded (uint8) and not counted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BarenetError
from .config import resolve_head

#: A run may plan to use at most this share of the memory available when it starts.
MEMORY_SHARE = 0.8
EVALUATION_ROWS = 4096  # rows per batch in barenet.train.trainer.predict_proba_batched
_OPTIMIZER_SLOTS = {"sgd": 0, "adam": 2, "adamw": 2}


def training_bytes(sizes: list[int], batch: int, itemsize: int, optimizer: str, momentum: float = 0.0,
                   early_stopping: bool = False, hidden_buffers: int = 0, input_buffers: int = 0) -> int:
    """Bytes to train a network of layer ``sizes`` on batches of ``batch`` rows (module docstring;
    ``hidden_buffers`` is a, ``input_buffers`` a_0)."""
    params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    slots = _OPTIMIZER_SLOTS.get(optimizer, 2) + (1 if optimizer == "sgd" and momentum else 0)
    copies = (2 + slots) + (1 + slots) + (1 if early_stopping else 0)
    activations = max(batch * (sizes[0] * (1 + input_buffers) + (3 + hidden_buffers) * sum(sizes[1:])),
                      EVALUATION_ROWS * sum(sizes))
    return itemsize * (params * copies + activations)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable), or None where it cannot be told."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(config: Any, n_inputs: int, n_classes: int, n_train: int) -> None:
    """Refuse, with one line, a run that would need more than :data:`MEMORY_SHARE` of the
    available memory; ``n_train`` bounds the batch (``batch_size = "full"``)."""
    _, _, units = resolve_head(config, n_classes)
    sizes = [n_inputs, *config.layers, units]
    batch = n_train if config.batch_size == "full" else min(int(config.batch_size), max(n_train, 1))
    itemsize = 8 if config.dtype == "float64" else 4
    hidden_buffers = 2 * ((config.dropout > 0) + (config.noise > 0) + bool(config.batch_norm))
    input_buffers = 2 * ((config.input_dropout > 0) + (config.input_noise > 0))
    need = training_bytes(sizes, batch, itemsize, config.optimizer, config.momentum,
                          config.early_stopping is not None, hidden_buffers, input_buffers)
    available = available_memory()
    if available is not None and need > MEMORY_SHARE * available:
        raise BarenetError(
            f"this network ({'-'.join(map(str, sizes))}, {config.dtype}, "
            f"{config.optimizer}, batches of {batch}) needs about {_gib(need)} to train but "
            f"{_gib(available)} of memory is available; use smaller --layers or --batch-size")


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"
