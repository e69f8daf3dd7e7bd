"""A canary's plan from a request: stages, thresholds, interval, sample minimum.

Checked whole before anything starts, so a bad plan is a one-line refusal
naming the field, never a canary that fails half-way.
"""

from __future__ import annotations

import math
from typing import Any

from caxton.errors import InvalidRequest
from caxton.protocol import quote

#: ADR-0008's stages: (percent of traffic, seconds)
DEFAULT_STAGES: list[list[float]] = [[5, 300], [25, 600], [50, 600], [100, 0]]
#: ADR-0008's ``rollback_on``
DEFAULT_ROLLBACK_ON: dict[str, float] = {"error_rate": 0.01, "p99_latency_ms": 100.0,
                                         "restarts": 0}
#: the canary's median latency over the baseline's that counts as worse: two identical
#: versions on the shared 2-core machine reach 1.4-1.6 in a window now and then
#: (benchmarks/bench_canary.py); a version three times slower is at ~3
LATENCY_RATIO = 1.5
#: the longest stage or interval (a week)
MAX_SECONDS = 7 * 86_400.0


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a number from {low:g} to {high:g}, "
                             f"not {quote(value)}", field=name)
    return float(value)


def canary_plan(arguments: dict[str, Any]) -> dict[str, Any]:
    """The plan stored on the deployment (``Deployment.canary``)."""
    raw = arguments.get("stages")
    stages = DEFAULT_STAGES if raw is None else raw
    if not isinstance(stages, list | tuple) or not stages:
        raise InvalidRequest("stages must be a list of (percent, seconds) pairs",
                             field="stages")
    plan_stages: list[list[float]] = []
    last = 0.0
    for i, stage in enumerate(stages):
        if not isinstance(stage, list | tuple) or len(stage) != 2:
            raise InvalidRequest(f"stages[{i}] must be a (percent, seconds) pair, not "
                                 f"{quote(stage)}", field="stages")
        percent = _number(stage[0], f"stages[{i}] percent", 0.01, 100.0)
        seconds = _number(stage[1], f"stages[{i}] seconds", 0.0, MAX_SECONDS)
        if percent <= last:
            raise InvalidRequest(f"stages[{i}]: percentages must rise, {percent:g} after "
                                 f"{last:g}", field="stages")
        last = percent
        plan_stages.append([percent, seconds])
    rollback_on = dict(DEFAULT_ROLLBACK_ON)
    given = arguments.get("rollback_on")
    if given is not None:
        if not isinstance(given, dict):
            raise InvalidRequest("rollback_on must be a mapping such as {'error_rate': 0.01, "
                                 "'p99_latency_ms': 100}", field="rollback_on")
        for name, value in given.items():
            if name not in DEFAULT_ROLLBACK_ON:
                raise InvalidRequest(f"rollback_on: unknown threshold {quote(name)} (use "
                                     f"{', '.join(DEFAULT_ROLLBACK_ON)})", field="rollback_on")
            high = 1.0 if name == "error_rate" else 1e9
            rollback_on[name] = _number(value, f"rollback_on.{name}", 0.0, high)
    interval = _number(arguments.get("analysis_interval", 60.0), "analysis_interval", 0.05,
                       MAX_SECONDS)
    samples = arguments.get("min_samples", 50)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 10**7:
        raise InvalidRequest(f"min_samples must be a whole number from 1 to 10000000, not "
                             f"{quote(samples)}", field="min_samples")
    confirm = arguments.get("confirm", 2)
    if isinstance(confirm, bool) or not isinstance(confirm, int) or not 1 <= confirm <= 100:
        raise InvalidRequest(f"confirm must be a whole number from 1 to 100, not "
                             f"{quote(confirm)}", field="confirm")
    ratio = _number(arguments.get("latency_ratio", LATENCY_RATIO), "latency_ratio", 1.0, 100.0)
    return {"stages": plan_stages, "stage": 0, "percent": plan_stages[0][0],
            "rollback_on": rollback_on, "analysis_interval": interval,
            "min_samples": samples, "confirm": confirm, "latency_ratio": ratio,
            "verdicts": []}


def shadow_plan(arguments: dict[str, Any]) -> dict[str, Any]:
    """A shadow's plan: how long it compares, and whether it switches after
    (``parallel``) when the new version matched the live one on every message."""
    raw = arguments.get("strategy", "")
    switch = isinstance(raw, str) and raw.strip().lower() == "parallel"
    duration = _number(arguments.get("duration", 3600.0), "duration", 0.0, MAX_SECONDS)
    samples = arguments.get("min_samples", 50)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 10**7:
        raise InvalidRequest(f"min_samples must be a whole number from 1 to 10000000, not "
                             f"{quote(samples)}", field="min_samples")
    return {"shadow": True, "switch": switch, "duration": duration, "min_samples": samples,
            "latency_ratio": LATENCY_RATIO, "verdicts": []}
