"""The augmentation spec: ``"shift(2)+rotate(10)+scale(0.1)+shear(0.2)+elastic(34,4)"``.

One text names the whole augmentation, the same on the command line (``--augment``), in a TOML
file (``augment = "..."``) and in the API (:func:`parse_augment`). Terms, joined by ``+``, each
at most once:

==================  ==========================================================================
``shift(N)``        random integer translation by up to N pixels (:class:`RandomShift`, slicing)
``rotate(D)``       rotation by U(-D, D) degrees
``scale(F)``        isotropic scaling by U(1 - F, 1 + F)
``shear(K)``        horizontal shear by U(-K, K)
``translate(T)``    sub-pixel translation by U(-T, T) pixels in each direction
``elastic(A, S)``   Simard's elastic distortion: alpha A, Gaussian width sigma S (pixels)
==================  ==========================================================================

``none`` (or an empty text) is no augmentation. The shift (when given) is applied first, then
all the other terms together as one bilinear resampling (:class:`RandomDistortion`), whatever
their order in the text. ``--shift N`` is the same as ``shift(N)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..errors import BarenetError
from .augment import RandomShift, random_shift_for
from .distort import RandomDistortion

Array = np.ndarray

__all__ = ["AUGMENT_TERMS", "Augmentation", "augmentation_for", "check_augment_spec", "parse_augment"]

#: Each term and its number of arguments.
AUGMENT_TERMS = {"shift": 1, "rotate": 1, "scale": 1, "shear": 1, "translate": 1, "elastic": 2}
_TERM = re.compile(r"^([a-z_]+)\((.*)\)$")


def check_augment_spec(spec: str) -> dict[str, tuple[float, ...]]:
    """The terms of ``spec`` as {name: arguments}; a malformed spec is one :class:`BarenetError`."""
    text = str(spec).strip().replace(" ", "")
    if text.lower() in ("", "none"):
        return {}
    terms: dict[str, tuple[float, ...]] = {}
    for part in text.split("+"):
        match = _TERM.match(part)
        if not match or match.group(1) not in AUGMENT_TERMS:
            raise BarenetError(f"unknown augmentation term {part!r} in {spec!r}; use terms like "
                               f"{', '.join(n + '(...)' for n in AUGMENT_TERMS)} joined by '+'")
        name, args = match.group(1), match.group(2)
        if name in terms:
            raise BarenetError(f"the augmentation {spec!r} names {name}(...) twice; give it once")
        try:
            values = tuple(float(a) for a in args.split(",")) if args else ()
        except ValueError:
            raise BarenetError(f"{part!r} in the augmentation {spec!r} takes numbers") from None
        if len(values) != AUGMENT_TERMS[name]:
            raise BarenetError(f"{name}(...) takes {AUGMENT_TERMS[name]} number(s); got {part!r}")
        if not all(np.isfinite(values)) or min(values) < 0:
            raise BarenetError(f"{part!r} in the augmentation {spec!r} needs finite numbers >= 0")
        if name == "shift" and values[0] != int(values[0]):
            raise BarenetError(f"shift(N) takes a whole number of pixels; got {part!r} "
                               "(translate(T) moves by fractions of a pixel)")
        terms[name] = values
    return terms


class Augmentation:
    """The steps of a spec applied in turn to each raw training batch, all drawing from one
    Generator (so a run resumes bit-identically). ``spec`` is the text it came from."""

    def __init__(self, steps: Sequence, image_shape: Sequence[int], spec: str) -> None:
        self.steps = list(steps)
        self.image_shape = tuple(image_shape)
        self.spec = spec

    def __repr__(self) -> str:
        return f"Augmentation({self.spec!r}, image_shape={self.image_shape})"

    def __call__(self, x: Array, rng: np.random.Generator) -> Array:
        for step in self.steps:
            x = step(x, rng)
        return x


def parse_augment(spec: str, image_shape: Sequence[int]) -> Augmentation | None:
    """The augmentation of ``spec`` for images of ``image_shape`` (H, W); None for ``none``."""
    terms = check_augment_spec(spec)
    if not terms:
        return None
    shape = tuple(image_shape)
    if len(shape) != 2:
        raise BarenetError(f"the augmentation {spec!r} distorts 2-D images, but these data have "
                           f"per-sample shape {shape}; use no augmentation for flat features")
    steps: list = []
    if "shift" in terms:
        shift = random_shift_for(int(terms.pop("shift")[0]), shape)
        if shift is not None:
            steps.append(shift)
    if terms:
        elastic = terms.pop("elastic", None)
        steps.append(RandomDistortion(shape, **{name: v[0] for name, v in terms.items()},
                                      elastic=elastic))
    return Augmentation(steps, shape, str(spec).strip())


def run_augment_spec(spec: str, shift: int = 0) -> str:
    """The one spec a run's ``augment`` and ``shift`` options make together (``none`` for
    neither): ``shift`` > 0 reads as a leading ``shift(N)``."""
    if not shift:
        return str(spec).strip() or "none"
    return f"shift({shift})" if not check_augment_spec(spec) else f"shift({shift})+{str(spec).strip()}"


def augmentation_for(spec: str, input_shape: Sequence[int],
                     shift: int = 0) -> Augmentation | RandomShift | None:
    """The augmentation of a run: ``spec`` (the ``augment`` option) with ``shift`` > 0 (the
    ``shift`` option) read as a leading ``shift(N)``; both naming a shift is an error."""
    if shift:
        if "shift" in check_augment_spec(spec):
            raise BarenetError(f"--shift {shift} and the augmentation {spec!r} both set a shift; "
                               "give it once")
        if not check_augment_spec(spec):
            return random_shift_for(shift, input_shape)
        spec = f"shift({shift})+{spec}"
    return parse_augment(spec, input_shape)
