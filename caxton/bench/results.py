"""Rows of the benchmark table: one figure, its baseline, the ratio and its target.

A figure on a shared, noisy machine only means something beside a comparison
measured in the same run, so every row carries its baseline and the ratio
between the two. The ratio always reads "how many times better Caxton does"
(comparison time / Caxton time, Caxton rate / comparison rate), so a target
such as "every Ray ratio >= 5x" reads the same way for latencies, rates and
memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Better = Literal["lower", "higher"]

#: The figure was measured.
OK = "ok"
#: Something the figure needs is broken or missing; ``reason`` says what.
UNAVAILABLE = "unavailable"
#: The comparison runtime (Ray) is not installed.
NOT_INSTALLED = "not installed"
#: Deliberately left out of this run (e.g. 1,000 agents in ``--quick``).
SKIPPED = "skipped"


@dataclass(frozen=True)
class Target:
    """A goal a figure is held to: ``median <= 10`` or ``ratio >= 5``."""

    on: Literal["median", "ratio"]
    op: Literal["<=", ">="]
    value: float
    text: str

    def met_by(self, median: float | None, ratio: float | None) -> bool | None:
        subject = median if self.on == "median" else ratio
        if subject is None:
            return None
        return subject <= self.value if self.op == "<=" else subject >= self.value

    def to_dict(self) -> dict[str, Any]:
        return {"on": self.on, "op": self.op, "value": self.value, "text": self.text}


@dataclass(frozen=True)
class Figure:
    """What one row measures, fixed before anything runs.

    Declaring every row up front means a benchmark that crashes still leaves
    its rows in the table, marked unavailable with the reason, instead of
    silently shrinking the report.
    """

    key: str
    benchmark: str
    title: str
    unit: str
    better: Better
    tail: str | None = None
    baseline: str | None = None
    target: Target | None = None
    ray: bool = False
    full_only: bool = False
    #: a row that sets another figure's median beside a figure recorded once,
    #: not in this run: ``(source figure key, recorded value)``
    recorded: tuple[str, float] | None = None


@dataclass(frozen=True)
class Measurement:
    """What a benchmark hands back for one figure, in the figure's unit."""

    value: float
    tail: float | None = None
    baseline: float | None = None
    samples: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    figure: Figure
    status: str = OK
    reason: str = ""
    value: float | None = None
    tail: float | None = None
    baseline: float | None = None
    samples: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def measured(cls, figure: Figure, m: Measurement) -> Row:
        return cls(figure, OK, "", m.value, m.tail, m.baseline, m.samples, dict(m.detail))

    @classmethod
    def missing(cls, figure: Figure, status: str, reason: str = "") -> Row:
        return cls(figure, status, reason)

    @property
    def ratio(self) -> float | None:
        return advantage(self.value, self.baseline, self.figure.better)

    @property
    def met(self) -> bool | None:
        if self.figure.target is None or self.status != OK:
            return None
        return self.figure.target.met_by(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        f = self.figure
        return {
            "key": f.key,
            "benchmark": f.benchmark,
            "figure": f.title,
            "unit": f.unit,
            "better": f.better,
            "status": self.status,
            "reason": self.reason,
            "median": self.value,
            "tail": self.tail,
            "tail_label": f.tail,
            "baseline": self.baseline,
            "baseline_label": f.baseline,
            "ratio": self.ratio,
            "target": None if f.target is None else f.target.to_dict(),
            "met": self.met,
            "samples": self.samples,
            "ray": f.ray,
            "detail": self.detail,
        }


def advantage(value: float | None, comparison: float | None, better: Better) -> float | None:
    """How many times better ``value`` is than ``comparison`` (>1: Caxton does better)."""
    if value is None or comparison is None or value <= 0 or comparison <= 0:
        return None
    return comparison / value if better == "lower" else value / comparison
