"""Weight initializers, each drawing from one seeded ``numpy.random.Generator``.

A weight matrix is (n_in, n_out) (see :mod:`barenet.layers`). Biases start at zero unless a
bias initializer is given.

=====================  ==================================================================
spec                   distribution of each weight
=====================  ==================================================================
``uniform(a,b)``       U(a, b)
``normal(std)``        N(0, std^2)           (``normal(mean,std)`` also accepted)
``max_fan_normal``     N(0, std^2) with std = 1 / max(n_in, n_out)   (exercise E4)
``xavier_uniform``     U(-r, r), r = sqrt(6 / (n_in + n_out))        (Glorot & Bengio 2010)
``xavier_normal``      N(0, 2 / (n_in + n_out))
``he_uniform``         U(-r, r), r = sqrt(6 / n_in)                  (He et al. 2015)
``he_normal``          N(0, 2 / n_in)
``zeros``              0 (for biases)
=====================  ==================================================================

``glorot_*`` are aliases of ``xavier_*``; ``he`` is ``he_normal``, ``xavier`` is
``xavier_uniform``. ``auto`` picks He (normal) for ReLU-family layers and Xavier (uniform)
otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ..errors import BarenetError

Array = np.ndarray
Initializer = Callable[[np.random.Generator, int, int, np.dtype], Array]

INIT_NAMES = (
    "uniform(a,b)",
    "normal(std)",
    "max_fan_normal",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "zeros",
    "auto",
)
_ALIASES = {
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "xavier": "xavier_uniform",
    "glorot": "xavier_uniform",
    "he": "he_normal",
    "kaiming": "he_normal",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
}
_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\(([^()]*)\))?\s*$")


def _uniform(a: float, b: float) -> Initializer:
    def draw(rng: np.random.Generator, n_in: int, n_out: int, dtype: np.dtype) -> Array:
        return rng.uniform(a, b, size=(n_in, n_out)).astype(dtype)

    return draw


def _normal(std_of: Callable[[int, int], float], mean: float = 0.0) -> Initializer:
    def draw(rng: np.random.Generator, n_in: int, n_out: int, dtype: np.dtype) -> Array:
        std = std_of(n_in, n_out)
        return (mean + std * rng.standard_normal((n_in, n_out))).astype(dtype)

    return draw


def _zeros(rng: np.random.Generator, n_in: int, n_out: int, dtype: np.dtype) -> Array:
    return np.zeros((n_in, n_out), dtype=dtype)


def _parse_args(name: str, args: str | None) -> list[float]:
    if not args:
        return []
    try:
        numbers = [float(a) for a in args.split(",")]
    except ValueError:
        numbers = [float("nan")]
    if not all(np.isfinite(numbers)):
        raise BarenetError(f"initializer {name!r}: arguments must be finite numbers, got {args!r}")
    return numbers


def get_initializer(spec: str, activation: str = "relu") -> Initializer:
    """Parse an initializer spec such as ``"uniform(-1,1)"``, ``"normal(0.01)"`` or ``"he"``.

    ``activation`` (the activation that follows the layer) only matters for ``auto``.
    """
    match = _SPEC.match(str(spec).lower())
    if not match:
        raise BarenetError(
            f"cannot read initializer {spec!r}; choose one of: {', '.join(INIT_NAMES)}"
        )
    name, raw = match.group(1), match.group(2)
    name = _ALIASES.get(name, name)
    if name not in {known.split("(")[0] for known in INIT_NAMES}:
        raise BarenetError(f"unknown initializer {spec!r}; choose one of: {', '.join(INIT_NAMES)}")
    args = _parse_args(name, raw)
    if name == "auto":
        name = "he_normal" if activation in ("relu", "leaky_relu") else "xavier_uniform"

    def expect(n: tuple[int, ...], usage: str) -> None:
        if len(args) not in n:
            raise BarenetError(f"initializer {name!r} takes {usage}; got {spec!r}")

    if name == "uniform":
        expect((2,), "two numbers, e.g. uniform(-1,1)")
        a, b = args
        if not a < b:
            raise BarenetError(f"uniform(a,b) needs a < b; got {spec!r}")
        return _uniform(a, b)
    if name == "normal":
        expect((1, 2), "a standard deviation, e.g. normal(0.01), or normal(mean,std)")
        mean, std = (0.0, args[0]) if len(args) == 1 else (args[0], args[1])
        if std < 0:
            raise BarenetError(f"normal(std) needs std >= 0; got {spec!r}")
        return _normal(lambda n_in, n_out: std, mean)
    expect((0,), "no arguments")
    if name == "max_fan_normal":
        return _normal(lambda n_in, n_out: 1.0 / max(n_in, n_out))
    if name == "xavier_uniform":
        return lambda rng, i, o, dt: _uniform(-np.sqrt(6 / (i + o)),
                                              np.sqrt(6 / (i + o)))(rng, i, o, dt)
    if name == "xavier_normal":
        return _normal(lambda n_in, n_out: np.sqrt(2.0 / (n_in + n_out)))
    if name == "he_uniform":
        return lambda rng, i, o, dt: _uniform(-np.sqrt(6 / i), np.sqrt(6 / i))(rng, i, o, dt)
    if name == "he_normal":
        return _normal(lambda n_in, n_out: np.sqrt(2.0 / n_in))
    if name == "zeros":
        return _zeros
    raise BarenetError(f"unknown initializer {spec!r}; choose one of: {', '.join(INIT_NAMES)}")


def initialize(
    spec: str, rng: np.random.Generator, n_in: int, n_out: int,
    dtype: np.dtype | type = np.float32, activation: str = "relu",
) -> Array:
    """Draw an (n_in, n_out) weight matrix from ``spec`` with ``rng``."""
    return get_initializer(spec, activation)(rng, n_in, n_out, np.dtype(dtype))
