"""What every benchmark prints the same way: percentiles, targets, gains and numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_OPS = {"<=": lambda v, b: v <= b, "<": lambda v, b: v < b, ">=": lambda v, b: v >= b, ">": lambda v, b: v > b}


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in 0..1 (nan for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def target_check(targets: Mapping[str, Mapping[str, Any]], name: str, value: float | None,
                 measured_at: str = "") -> dict[str, Any]:
    """One target's verdict: `targets[name]` holds op (<=, <, >=, >), value and unit."""
    t = targets[name]
    op, bound = t["op"], t["value"]
    ok = value is not None and _OPS[op](value, bound)
    return {"name": name + (f" ({measured_at})" if measured_at else ""), "target": f"{op} {bound}",
            "value": value, "unit": t["unit"], "pass": ok}


def gain(better: float | None, worse: float | None, *, higher_is_better: bool, digits: int = 1) -> float | None:
    """How many times better the optimised figure is (None when either is missing or zero)."""
    if not better or not worse:
        return None
    return round(better / worse if higher_is_better else worse / better, digits)


def fmt(value: Any) -> str:
    """A figure for a table: thousands separators, 3 decimals below 10, 1 above."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
