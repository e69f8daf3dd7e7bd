"""Percentiles of recovery times, without numpy (the harness needs nothing else from it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """count, p50, p95 and max, rounded to the millisecond tenth; Nones when empty."""
    if not values:
        return {"count": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {
        "count": len(values),
        "p50_s": round(percentile(values, 50), 4),
        "p95_s": round(percentile(values, 95), 4),
        "max_s": round(max(values), 4),
    }
