"""Shared fixtures: small, fast training configurations and a headless matplotlib."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# scikit-learn's array-API estimator check runs only in SciPy's array-API mode (else it skips).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402

# A fast recipe for end-to-end tests: 100 images per class, a small net, 2 epochs.
FAST = ["--per-class", "100", "--layers", "32", "--epochs", "2", "--quiet"]


@pytest.fixture
def fast_args() -> list[str]:
    return list(FAST)
