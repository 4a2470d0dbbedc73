"""How many threads the matrix products use (NumPy's BLAS): a fixed number, or measured.

On a quiet machine every core speeds up the matrix products. On a shared one it can be the
opposite: OpenBLAS threads wait for each other by spinning, so when another process holds a
core, a product of training-batch size can take ten times longer with all cores than with one
(seen on the 2-core machine barenet is developed on: a 3 s run took 64 s). ``"auto"`` measures
instead of guessing: :func:`choose_threads` times a step of the model's first layer (see
:func:`time_step`) with 1, 2, ... threads and keeps the fastest.

Why a step and not the product alone: on that machine the cores spend minutes at a time in a
contended state where a product on two threads still beats one thread, yet a training step is
slower on two, because the single-threaded work between the products slows down.
``benchmarks/thread_choice.py`` measures how often each way names the count that really
trains faster (docs/performance.md).

What is reproducible. The thread count can change the last bits of a matrix product (BLAS
splits the work differently), so a run is bit-for-bit reproducible for a given seed *and*
thread count on one machine. ``"auto"`` measures, and a measurement depends on the machine's
load at that moment: two ``barenet train --seed S`` runs on a busy machine may choose
different counts and then differ in the last bits (their accuracy agrees to rounding, their
bits need not). The reproducible path: ``barenet train`` writes the count it used (a number,
never ``"auto"``) into the run's config.toml and prints the command that repeats the run, and
``--config RUN/config.toml`` and ``--resume RUN`` use that count again; ``--threads N`` fixes
it from the start. The choice is made once per run, never during training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from ..errors import BarenetError

_controller = None


def _blas():
    """threadpoolctl's controller for the BLAS libraries loaded by NumPy (made once)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def available_threads() -> int:
    """The BLAS thread count in effect now (all cores unless OPENBLAS_NUM_THREADS etc. say less)."""
    return max([lib.num_threads for lib in _blas().lib_controllers] or [1])


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the ``with`` block with ``n`` BLAS threads, then restore the previous count."""
    limiter = _blas().limit(limits=int(n))
    try:
        yield
    finally:
        limiter.restore_original_limits()


def check_threads(spec: int | str) -> int | str:
    """``"auto"`` or a positive integer (also given as a string); anything else is a user error."""
    if spec == "auto":
        return spec
    try:
        n = int(spec)
    except (TypeError, ValueError):
        n = 0
    if isinstance(spec, bool) or n < 1 or str(n) != str(spec).strip():
        raise BarenetError(f"--threads must be 'auto' or a positive whole number, e.g. --threads 1; "
                           f"got {spec!r}")
    return n


def time_step(threads: int, shape: tuple[int, int, int], repeats: int = 9,
              budget: float = float("inf")) -> float:
    """Median seconds, with ``threads`` BLAS threads, of a training step of one layer of
    ``shape`` = (batch m, inputs k, outputs n), in float32:

        z = x W            (m, k) @ (k, n)   the forward product
        z = max(z, 0)                        ReLU, in place
        g = x^T z          (k, m) @ (m, n)   the weight-gradient product
        s = 0.999 s + g,  g = sqrt(s),  W -= g   elementwise passes over W, as Adam makes

    Stops early, returning ``inf``, once the repeats have used more than ``budget`` seconds in
    all: a thread count that slow has lost already, and on a busy machine it can be very slow.
    """
    m, k, n = shape
    rng = np.random.default_rng(0)
    x = rng.random((m, k), dtype=np.float32)
    w = rng.random((k, n), dtype=np.float32)
    z = np.empty((m, n), dtype=np.float32)
    g = np.empty((k, n), dtype=np.float32)
    s = np.zeros((k, n), dtype=np.float32)

    def step() -> None:
        np.matmul(x, w, out=z)
        np.maximum(z, 0, out=z)
        np.matmul(x.T, z, out=g)
        np.multiply(s, 0.999, out=s)
        np.add(s, g, out=s)
        np.sqrt(s, out=g)
        np.subtract(w, g, out=w)

    times = []
    with blas_threads(threads):
        step()  # warm-up: wakes the thread pool
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
            if sum(times) > budget:
                return float("inf")
    return float(np.median(times))


MEASURED_ROWS = 1024  # a bigger batch is timed with this many rows: same verdict, far less time


def choose_threads(shape: tuple[int, int, int], candidates: Sequence[int] | None = None,
                   measure: Callable[..., float] = time_step) -> int:
    """The thread count, among ``candidates`` (default 1 .. :func:`available_threads`), that
    runs a step of a layer of ``shape`` = (batch, inputs, outputs) fastest right now.

    A batch of more than :data:`MEASURED_ROWS` rows is timed with that many (a full-batch step
    of all of MNIST would take seconds to time). Each candidate gets at most twice the time
    the best so far needed (``budget``), so a count slowed down by a busy machine costs little
    to rule out.
    """
    candidates = list(candidates) if candidates is not None else list(range(1, available_threads() + 1))
    if len(candidates) == 1:
        return candidates[0]
    shape = (min(shape[0], MEASURED_ROWS), shape[1], shape[2])
    best, best_time = 1, float("inf")
    for threads in candidates:
        seconds = measure(threads, shape, budget=2 * 9 * best_time)
        if seconds < best_time:
            best, best_time = threads, seconds
    return best


def resolve_threads(spec: int | str, shape: tuple[int, int, int]) -> int:
    """A thread count from ``"auto"`` (measured with :func:`choose_threads`) or a number."""
    spec = check_threads(spec)
    return choose_threads(shape) if spec == "auto" else int(spec)
