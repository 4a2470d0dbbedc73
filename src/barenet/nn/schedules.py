"""Learning-rate schedules: the learning rate as a function of training progress.

Progress ``t`` is measured in epochs and advances by 1/(batches per epoch) after every batch,
so one rule serves every batching mode. ``base`` is the optimizer's initial learning rate and
``total`` the number of epochs of the run.

==========================  =============================================================
spec                        lr(t)
==========================  =============================================================
``constant``                base
``step(k,gamma)``           base * gamma ^ floor(t / k)          (decays every k epochs)
``exponential(gamma)``      base * gamma ^ floor(t)              (decays every epoch)
``cosine``                  min + (base - min) (1 + cos(pi t / total)) / 2   (``cosine(min)``)
``warmup(w)+<schedule>``    base * max(t / w, 0.01) for t < w, then <schedule> at t - w
                            over total - w epochs
==========================  =============================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BarenetError

SCHEDULE_NAMES = ("constant", "step(k,gamma)", "exponential(gamma)", "cosine", "cosine(min_lr)",
                  "warmup(epochs)+<schedule>")
_SPEC = re.compile(r"^\s*([a-z_]+)\s*(?:\(([^()]*)\))?\s*$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: call it with (base, t, total) to get the learning rate.

    ``floor`` is the learning rate a ``cosine(min_lr)`` decays to (0 otherwise) and ``warmup``
    the epochs of a ``warmup(w)+`` ramp (0 without one): what :meth:`check` needs to refuse a
    schedule that cannot be meant for a run's learning rate and length."""

    spec: str
    rule: Callable[[float, float, float], float]
    floor: float = 0.0
    warmup: float = 0.0

    def __call__(self, base: float, t: float, total: float) -> float:
        return self.rule(base, t, total)

    def check(self, base: float, total: float) -> None:
        """Refuse a cosine that would climb (its min_lr above the learning rate ``base``) and a
        warm-up as long as the run (``total`` epochs), whose learning rate never reaches base."""
        if self.floor > base:
            raise BarenetError(f"schedule {self.spec!r} decays to min_lr {self.floor:g}, above the "
                               f"learning rate {base:g}: the rate would climb instead; give a "
                               "min_lr below the learning rate")
        if self.warmup and self.warmup >= total:
            epochs = f"{self.warmup:g} epoch" + ("" if self.warmup == 1 else "s")
            raise BarenetError(f"schedule {self.spec!r} warms up for {epochs}, the "
                               f"whole run of {total:g}: the learning rate would never reach "
                               f"{base:g}; warm up for fewer epochs than the run has")


def _numbers(name: str, raw: str | None, count: tuple[int, ...], usage: str) -> list[float]:
    try:
        args = [float(a) for a in raw.split(",")] if raw else []
    except ValueError:
        raise BarenetError(
            f"schedule {name!r}: arguments must be numbers; usage: {usage}") from None
    if len(args) not in count:
        raise BarenetError(f"schedule {name!r} takes {usage}")
    if not all(math.isfinite(a) for a in args):
        raise BarenetError(f"schedule {name!r}: arguments must be finite numbers; got {raw!r}")
    return args


def _single(spec: str) -> tuple[Callable[[float, float, float], float], float]:
    """The rule of one schedule term, and the learning rate it decays to (cosine's min_lr)."""
    match = _SPEC.match(spec.lower())
    if not match:
        raise BarenetError(
            f"cannot read schedule {spec!r}; choose one of: {', '.join(SCHEDULE_NAMES)}")
    name, raw = match.groups()
    if name == "constant":
        _numbers(name, raw, (0,), "no arguments")
        return (lambda base, t, total: base), 0.0
    if name == "step":
        k, gamma = _numbers(name, raw, (2,), "step(every_epochs, gamma), e.g. step(10,0.5)")
        if k <= 0 or gamma <= 0:
            raise BarenetError(f"step(k, gamma) needs k > 0 epochs and gamma > 0; got {spec!r}")
        return (lambda base, t, total: base * gamma ** math.floor(t / k + 1e-9)), 0.0
    if name == "exponential":
        (gamma,) = _numbers(name, raw, (1,), "exponential(gamma), e.g. exponential(0.95)")
        if gamma <= 0:
            raise BarenetError(f"exponential(gamma) needs gamma > 0; got {spec!r}")
        return (lambda base, t, total: base * gamma ** math.floor(t + 1e-9)), 0.0
    if name == "cosine":
        args = _numbers(name, raw, (0, 1), "cosine or cosine(min_lr)")
        floor = args[0] if args else 0.0
        if floor < 0:
            raise BarenetError(f"cosine(min_lr) needs min_lr >= 0 (a negative learning rate climbs "
                               f"the loss); got {spec!r}")
        return (lambda base, t, total: floor + (base - floor) * 0.5 * (
            1 + math.cos(math.pi * min(t / total, 1.0) if total > 0 else 0.0))), floor
    raise BarenetError(f"unknown schedule {spec!r}; choose one of: {', '.join(SCHEDULE_NAMES)}")


def get_schedule(spec: str | None) -> Schedule:
    """Parse a schedule spec such as ``"cosine"``, ``"step(10,0.5)"`` or ``"warmup(1)+cosine"``."""
    spec = (spec or "constant").strip()
    parts = [part.strip() for part in spec.split("+")]
    if len(parts) == 1:
        return Schedule(spec, *_single(parts[0]))
    head = _SPEC.match(parts[0].lower())
    if len(parts) != 2 or not head or head.group(1) != "warmup":
        raise BarenetError(f"cannot read schedule {spec!r}; only warmup(w)+<schedule> combines")
    (w,) = _numbers("warmup", head.group(2), (1,),
                    "warmup(epochs)+<schedule>, e.g. warmup(1)+cosine")
    if w <= 0:
        raise BarenetError("warmup(w) needs w > 0 epochs")
    after, floor = _single(parts[1])

    def rule(base: float, t: float, total: float) -> float:
        if t < w:
            return base * max(t / w, 0.01)
        return after(base, t - w, max(total - w, 1e-12))

    return Schedule(spec, rule, floor, w)
