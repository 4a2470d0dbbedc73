"""What the diagnosis reports: a :class:`Finding` per problem, a :class:`Check` per health
signal, the :class:`Diagnosis` holding both, and the activation statistics the unit checks read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..nn.layers import ActivationLayer, Dense
from ..nn.model import MLP

Array = np.ndarray


@dataclass
class Finding:
    """One diagnosed problem: ``code`` (stable identifier, see ``signals.MODES``), ``title``,
    ``explanation`` (what happens, in plain words), ``fix`` (what to change, from the run's own
    settings), ``epoch`` (first epoch it showed, when known), ``measured`` (the signals, as
    printed) and ``evidence`` (the numbers behind it)."""

    code: str
    title: str
    explanation: str
    fix: str
    epoch: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str = "warning"
    measured: str = ""

    def __str__(self) -> str:
        when = f" (epoch {self.epoch})" if self.epoch else ""
        seen = f" Measured: {self.measured}." if self.measured else ""
        return f"{self.title}{when}: {self.explanation}{seen} Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "title": self.title,
                "explanation": self.explanation, "measured": self.measured, "fix": self.fix,
                "epoch": self.epoch, "evidence": self.evidence}


@dataclass
class Check:
    """One health check: ``ok`` True (positive evidence), False (a finding), None (not
    measured), and the ``signal`` it read."""

    name: str
    ok: bool | None
    signal: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "signal": self.signal}


@dataclass
class Diagnosis:
    findings: list[Finding]
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        """No finding and positive evidence from every check."""
        return not self.findings and all(c.ok is True for c in self.checks)

    def summary(self) -> str:
        if self.findings:
            return f"{len(self.findings)} problem(s) found"
        if self.healthy:
            return ("No problem found: every check below has positive evidence of a healthy run")
        failed = [c.name for c in self.checks if c.ok is False]
        missing = [c.name for c in self.checks if c.ok is None]
        unmeasured = f" (not measured: {', '.join(missing)})" if missing else ""
        if failed:
            return (f"No diagnosis, but a check found no evidence of health ({', '.join(failed)}: "
                    f"see below){unmeasured}; this is not a clean bill of health")
        return ("No problem found in what was measured, but not every check could be made"
                f"{unmeasured}; this is not a clean bill of health")

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "summary": self.summary(),
                "findings": [f.to_dict() for f in self.findings],
                "checks": [c.to_dict() for c in self.checks]}


# ----------------------------------------------------------------------------- activations
def hidden_activations(model: MLP, x: Array) -> list[tuple[str, Array]]:
    """(activation name, outputs (N, units)) of every hidden activation layer for inputs ``x``
    (already normalized, as the network sees them), in inference mode."""
    out = np.asarray(x).reshape(len(x), -1).astype(model.dtype)
    acts: list[tuple[str, Array]] = []
    n_dense = len(model.dense_layers)
    seen_dense = 0
    for layer in model.layers:
        out = layer.forward(out, False)
        if isinstance(layer, Dense):
            seen_dense += 1
        elif isinstance(layer, ActivationLayer) and seen_dense < n_dense:
            acts.append((layer.name, out.copy()))
    return acts


def activation_stats(model: MLP, x: Array) -> list[dict[str, Any]]:
    """Per hidden layer: name, units, dead fraction (units that are <= 0 for every sample),
    saturated fraction (sigmoid / tanh outputs within 0.01 of their limits), rms and max."""
    stats = []
    for i, (name, a) in enumerate(hidden_activations(model, x), start=1):
        dead = float(np.mean(np.all(a <= 0, axis=0))) if name in ("relu", "leaky_relu") else 0.0
        if name == "sigmoid":
            saturated = float(np.mean((a < 0.01) | (a > 0.99)))
        elif name == "tanh":
            saturated = float(np.mean(np.abs(a) > 0.98))
        else:
            saturated = 0.0
        stats.append({"layer": i, "activation": name, "units": int(a.shape[1]), "dead_fraction": dead,
                      "saturated_fraction": saturated, "rms": float(np.sqrt(np.mean(np.square(a,
                      dtype=np.float64)))), "max": float(np.max(np.abs(a))) if a.size else 0.0})
    return stats


