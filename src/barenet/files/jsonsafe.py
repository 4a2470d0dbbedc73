"""JSON that stays valid: NaN and infinities (which JSON cannot hold) become null."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float inside dicts and lists replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


def json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text, every non-finite float written as null (:func:`finite_json`)."""
    return json.dumps(finite_json(value), indent=indent)
