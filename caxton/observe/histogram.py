"""Response times as fixed buckets: measured in the agent process, summed in the node.

An agent process times each ``caxton_handle`` and counts it in a bucket; what
it counted since its previous acknowledgement rides on that acknowledgement's
stats as ``[sum_ns, index, count, index, count, ...]`` (only buckets that
moved), so the node never times a message itself and never receives a frame
for a figure. The buckets are Prometheus's ``le`` bounds, so the node turns
the sums straight into a histogram series and a p99.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from time import perf_counter_ns

__all__ = ["BOUNDS", "BOUNDS_NS", "HandleTimes", "Histogram", "quantile"]

#: upper bounds in seconds (``le``), from 25 µs to 10 s; the last bucket is +Inf
BOUNDS: tuple[float, ...] = (
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
BOUNDS_NS: tuple[int, ...] = tuple(round(b * 1e9) for b in BOUNDS)

clock_ns = perf_counter_ns


class HandleTimes:
    """What an agent process counted since its last acknowledgement.

    The agent reads the clock once per message (the end of one handle is the
    start of the next, ``mark``), and ``add`` is a bisect and a list bump: well
    under a microsecond beside a handle of several.
    """

    __slots__ = ("_counts", "_total_ns", "mark")

    def __init__(self) -> None:
        self._counts = [0] * (len(BOUNDS_NS) + 1)
        self._total_ns = 0
        #: the clock (``clock_ns``) when the current message started
        self.mark = 0

    def add(self, ns: int) -> None:
        self._counts[bisect_left(BOUNDS_NS, ns)] += 1
        self._total_ns += ns

    def take(self) -> list[int]:
        """``[sum_ns, index, count, ...]`` since the previous take; ``[]`` when nothing moved."""
        if not self._total_ns:
            return []
        out = [self._total_ns]
        counts = self._counts
        for index, count in enumerate(counts):
            if count:
                out += (index, count)
                counts[index] = 0
        self._total_ns = 0
        return out


class Histogram:
    """A node-side cumulative histogram over ``BOUNDS`` (+Inf last)."""

    __slots__ = ("counts", "total_seconds")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS) + 1)
        self.total_seconds = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BOUNDS, seconds)] += 1
        self.total_seconds += seconds

    def merge_wire(self, wire: Sequence[int]) -> None:
        """Add what an agent reported (``HandleTimes.take``); ignores anything malformed."""
        if len(wire) < 3 or len(wire) % 2 == 0:
            return
        counts = self.counts
        top = len(counts)
        for i in range(1, len(wire), 2):
            index, count = wire[i], wire[i + 1]
            if 0 <= index < top and count > 0:
                counts[index] += count
        self.total_seconds += wire[0] / 1e9

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative ``(le, count)`` pairs as Prometheus exposes them."""
        out, running = [], 0
        for bound, count in zip((*BOUNDS, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


def quantile(q: float, counts: Sequence[int]) -> float | None:
    """The q-quantile of per-bucket counts, interpolated inside its bucket as PromQL's
    ``histogram_quantile`` does; None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    running = 0
    for index, count in enumerate(counts):
        if running + count >= rank and count:
            if index >= len(BOUNDS):
                return BOUNDS[-1]
            low = BOUNDS[index - 1] if index else 0.0
            return low + (BOUNDS[index] - low) * ((rank - running) / count)
        running += count
    return BOUNDS[-1]
