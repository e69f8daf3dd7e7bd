"""Order statistics of a handful of samples, without numpy.

Percentiles use linear interpolation between closest ranks (numpy's default),
so a p99 of 50 samples is an honest interpolation rather than the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50.0)


@dataclass(frozen=True)
class Summary:
    """What the table shows of one series: its median, a tail and its spread."""

    median: float
    p95: float
    p99: float
    minimum: float
    maximum: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("summary of no samples")
        return cls(
            median=median(samples),
            p95=percentile(samples, 95.0),
            p99=percentile(samples, 99.0),
            minimum=min(samples),
            maximum=max(samples),
            count=len(samples),
        )
