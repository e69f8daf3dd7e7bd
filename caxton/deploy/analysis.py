"""Canary analysis: is the new version worse than the one it would replace?

Each analysis interval compares the canary's window with the baseline's over
the same time: error rate, latency, restarts (fuel and memory are reported
beside them). A verdict is one of

* ``rollback`` with a reason (``error_rate``, ``latency``, ``restarts``),
  when the canary breaks an absolute threshold (ADR-0008's ``rollback_on``:
  ``error_rate > 1%``, ``p99_latency > 100ms``) or is *shown* worse than the
  baseline;
* ``promote`` when both have enough samples and nothing above holds;
* ``inconclusive`` when either side has too few samples: the stage is
  extended rather than promoted on too little evidence.

"Shown worse" takes two things, as Kayenta's judge does: statistical
significance and a difference that matters. Latencies are compared with a
one-sided Mann-Whitney U test (no assumption on their distribution, which is
long-tailed), errors with a one-sided Fisher's exact test (exact for the
small counts canaries see). A p-value under ``alpha`` alone is not enough: two
identical versions in two processes on a busy machine differ by a few per cent
for reasons that have nothing to do with the code, and with thousands of
samples such a difference is "significant". So latency must also be worse by
``latency_ratio`` at the median, and the error rate by ``error_margin``. Both
tests at ``alpha = 0.01`` keep the rate of false rollbacks between identical
versions near 2% per verdict in theory; ``docs/deployments.md`` records what
was measured.

Only the standard library is used: the two tests are a few lines each, and a
runtime should not carry a scientific stack for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["promote", "rollback", "inconclusive"]


@dataclass(frozen=True)
class Window:
    """What one version did during one analysis window."""

    latencies_ms: Sequence[float]
    errors: int
    total: int
    restarts: int = 0
    fuel: float = 0.0
    memory_bytes: int = 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.total if self.total else 0.0


@dataclass(frozen=True)
class Thresholds:
    """When a canary is rolled back; the absolute ones are ADR-0008's ``rollback_on``."""

    error_rate: float = 0.01
    p99_latency_ms: float = 100.0
    #: restarts of the canary beyond the baseline's within a window
    restarts: int = 0
    #: samples each side needs before anything but an absolute breach is judged
    min_samples: int = 50
    alpha: float = 0.01
    #: canary median latency over baseline median latency that counts as worse
    latency_ratio: float = 1.25
    #: canary error rate over baseline error rate (absolute) that counts as worse
    error_margin: float = 0.005


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str | None
    figures: dict[str, Any] = field(default_factory=dict)


def judge(canary: Window, baseline: Window, thresholds: Thresholds = Thresholds()) -> Verdict:
    """The verdict on one window (see the module's docstring for the rules)."""
    t = thresholds
    figures = _figures(canary, baseline)
    if canary.total and canary.error_rate > t.error_rate:
        return Verdict("rollback", "error_rate", figures)
    if canary.restarts - baseline.restarts > t.restarts:
        return Verdict("rollback", "restarts", figures)
    if len(canary.latencies_ms) >= t.min_samples and figures["canary_p99_ms"] > t.p99_latency_ms:
        return Verdict("rollback", "latency", figures)
    if (len(canary.latencies_ms) < t.min_samples or len(baseline.latencies_ms) < t.min_samples
            or canary.total < t.min_samples or baseline.total < t.min_samples):
        return Verdict("inconclusive", None, figures)
    p_errors = fisher_greater(canary.errors, canary.total - canary.errors,
                              baseline.errors, baseline.total - baseline.errors)
    p_latency = mann_whitney_greater(canary.latencies_ms, baseline.latencies_ms)
    figures.update(p_errors=p_errors, p_latency=p_latency)
    if p_errors < t.alpha and canary.error_rate - baseline.error_rate > t.error_margin:
        return Verdict("rollback", "error_rate", figures)
    ratio = figures["median_ratio"]
    if p_latency < t.alpha and ratio is not None and ratio > t.latency_ratio:
        return Verdict("rollback", "latency", figures)
    return Verdict("promote", None, figures)


def _figures(canary: Window, baseline: Window) -> dict[str, Any]:
    c_median, b_median = _quantile(canary.latencies_ms, 0.5), _quantile(baseline.latencies_ms,
                                                                           0.5)
    return {
        "canary_samples": canary.total, "baseline_samples": baseline.total,
        "canary_error_rate": canary.error_rate, "baseline_error_rate": baseline.error_rate,
        "canary_p50_ms": c_median, "baseline_p50_ms": b_median,
        "canary_p99_ms": _quantile(canary.latencies_ms, 0.99),
        "baseline_p99_ms": _quantile(baseline.latencies_ms, 0.99),
        "median_ratio": (c_median / b_median) if b_median else None,
        "canary_restarts": canary.restarts, "baseline_restarts": baseline.restarts,
        "canary_fuel": canary.fuel, "baseline_fuel": baseline.fuel,
        "canary_memory_bytes": canary.memory_bytes,
        "baseline_memory_bytes": baseline.memory_bytes,
    }


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that ``x`` tends to be larger than ``y`` (Mann-Whitney U).

    The normal approximation with the tie correction and a continuity
    correction: exact enough from about 20 samples a side, and the analysis
    judges nothing on fewer than ``min_samples``.
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        return 1.0
    pooled = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    n = n1 + n2
    rank_sum_x = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        average_rank = (i + j) / 2 + 1
        ties = j - i + 1
        tie_term += ties**3 - ties
        rank_sum_x += average_rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        i = j + 1
    u = rank_sum_x - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def fisher_greater(a: int, b: int, c: int, d: int) -> float:
    """One-sided p-value of Fisher's exact test that row 1's rate exceeds row 2's.

    The table is ``[[a, b], [c, d]]`` (canary errors, canary successes;
    baseline errors, baseline successes): the probability, with the margins
    fixed, of a table at least as extreme as this one in row 1's first cell.
    """
    if min(a, b, c, d) < 0:
        raise ValueError("counts must not be negative")
    row1, col1, total = a + b, a + c, a + b + c + d
    if total == 0 or row1 == 0 or col1 == 0:
        return 1.0
    log_denominator = _log_comb(total, row1)
    p = 0.0
    for x in range(a, min(row1, col1) + 1):
        p += math.exp(_log_comb(col1, x) + _log_comb(total - col1, row1 - x)
                      - log_denominator)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
