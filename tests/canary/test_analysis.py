"""The canary judge and its two tests, checked against exact computations."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from caxton.deploy.analysis import Thresholds, Window, fisher_greater, judge, mann_whitney_greater


def _fisher_by_enumeration(a: int, b: int, c: int, d: int) -> float:
    row1, col1, total = a + b, a + c, a + b + c + d
    denominator = math.comb(total, row1)
    return sum(math.comb(col1, x) * math.comb(total - col1, row1 - x)
               for x in range(a, min(row1, col1) + 1)) / denominator


def test_fisher_matches_the_lady_tasting_tea() -> None:
    assert fisher_greater(3, 1, 1, 3) == pytest.approx(17 / 70, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_fisher_matches_exact_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    a, b, c, d = (rng.randint(0, 40) for _ in range(4))
    assert fisher_greater(a, b, c, d) == pytest.approx(_fisher_by_enumeration(a, b, c, d),
                                                       rel=1e-9, abs=1e-12)


def _mann_whitney_exact(x: list[float], y: list[float]) -> float:
    """P(U >= u observed) over every way to split the pooled samples (no ties)."""
    pooled = x + y
    u_of = lambda xs: sum(1 for a in xs for b in pooled if b not in xs and a > b)  # noqa: E731
    observed = u_of(x)
    splits = list(itertools.combinations(pooled, len(x)))
    return sum(1 for s in splits if u_of(list(s)) >= observed) / len(splits)


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_mann_whitney_is_close_to_the_exact_distribution(shift: float) -> None:
    rng = random.Random(7)
    x = [rng.gauss(shift, 1) for _ in range(8)]
    y = [rng.gauss(0, 1) for _ in range(8)]
    assert mann_whitney_greater(x, y) == pytest.approx(_mann_whitney_exact(x, y), abs=0.03)


def test_mann_whitney_sees_a_slower_sample_and_not_a_faster_one() -> None:
    rng = random.Random(3)
    base = [rng.lognormvariate(0, 0.5) for _ in range(300)]
    slow = [3 * rng.lognormvariate(0, 0.5) for _ in range(300)]
    assert mann_whitney_greater(slow, base) < 1e-6
    assert mann_whitney_greater(base, slow) > 0.99


def test_ties_are_ranked_together() -> None:
    assert mann_whitney_greater([1.0] * 60, [1.0] * 60) == 1.0  # no variance: no evidence


def _window(rng: random.Random, n: int, *, scale: float = 1.0, error_rate: float = 0.0,
            restarts: int = 0) -> Window:
    latencies = [scale * rng.lognormvariate(math.log(5), 0.4) for _ in range(n)]
    errors = sum(1 for _ in range(n) if rng.random() < error_rate)
    return Window(latencies, errors, n, restarts)


def test_a_failing_canary_is_rolled_back_for_its_error_rate() -> None:
    rng = random.Random(1)
    verdict = judge(_window(rng, 400, error_rate=0.05), _window(rng, 400))
    assert (verdict.decision, verdict.reason) == ("rollback", "error_rate")


def test_a_three_times_slower_canary_is_rolled_back_for_latency() -> None:
    rng = random.Random(2)
    verdict = judge(_window(rng, 400, scale=3.0), _window(rng, 400))
    assert (verdict.decision, verdict.reason) == ("rollback", "latency")
    assert verdict.figures["median_ratio"] > 2.5


def test_the_absolute_thresholds_hold_whatever_the_baseline() -> None:
    rng = random.Random(4)
    slow = Thresholds(p99_latency_ms=8.0)
    assert judge(_window(rng, 200), _window(rng, 200), slow).reason == "latency"
    assert judge(_window(rng, 200, restarts=1), _window(rng, 200)).reason == "restarts"


def test_too_few_samples_are_inconclusive_not_a_promotion() -> None:
    rng = random.Random(5)
    verdict = judge(_window(rng, 20), _window(rng, 400))
    assert verdict.decision == "inconclusive"


def test_identical_versions_are_promoted_and_rarely_rolled_back() -> None:
    """The false-rollback rate over 500 windows of two identical versions (0.3% errors,
    the same long-tailed latency) stays under 5%."""
    rng = random.Random(11)
    verdicts = [judge(_window(rng, 300, error_rate=0.003), _window(rng, 300, error_rate=0.003))
                for _ in range(500)]
    rollbacks = sum(1 for v in verdicts if v.decision == "rollback")
    assert rollbacks / len(verdicts) <= 0.05, rollbacks
    assert sum(1 for v in verdicts if v.decision == "promote") >= 0.9 * len(verdicts)
