"""Shared fixtures: small, fast training configurations and a headless matplotlib."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# scikit-learn's array-API estimator check runs only in SciPy's array-API mode (else it skips).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy  # noqa: E402, F401  (loads the BLAS library that threadpoolctl limits below)
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from browser import chromedriver, chromium  # noqa: E402, F401  (fixtures: the browser tests' executables)

# One BLAS thread for the whole suite: `--threads auto` then resolves to 1 without measuring,
# so runs compared bit for bit use the same thread count (the count can change the last bits
# of a matrix product), and a busy CI machine cannot slow the suite down tenfold.
threadpool_limits(limits=1, user_api="blas")

# A fast recipe for end-to-end tests: 100 images per class, a small net, 2 epochs.
FAST = ["--per-class", "100", "--layers", "32", "--epochs", "2", "--quiet"]


@pytest.fixture
def fast_args() -> list[str]:
    return list(FAST)
