"""Caxton's benchmark suite: every headline figure beside its baseline, in one run.

``python -m caxton.bench [--quick] [--only NAME] [--json FILE]`` starts real
nodes, measures spawn, failure detection, calls, pipelined throughput, the
in-process handle rate, idle memory and restart with state, each beside a
baseline (and Ray actors, when Ray is installed) taken in the same run, and
prints whether each target is met. The workloads are described in
``docs/benchmarks.md``.
"""

from caxton.bench.catalogue import BENCHMARKS, FIGURES
from caxton.bench.cli import main
from caxton.bench.errors import BenchError, BenchUnavailable
from caxton.bench.plan import Plan
from caxton.bench.report import Report, render_table
from caxton.bench.results import Figure, Measurement, Row, Target
from caxton.bench.suite import run_benchmarks

__all__ = [
    "BENCHMARKS",
    "FIGURES",
    "BenchError",
    "BenchUnavailable",
    "Figure",
    "Measurement",
    "Plan",
    "Report",
    "Row",
    "Target",
    "main",
    "render_table",
    "run_benchmarks",
]
