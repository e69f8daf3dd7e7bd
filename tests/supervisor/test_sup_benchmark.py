"""The benchmark script runs and reports every figure beside its baseline
(the figures themselves are checked by running it, not here)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_supervisor.py"


@pytest.mark.timeout(120)
def test_quick_benchmark_reports_every_figure() -> None:
    spec = importlib.util.spec_from_file_location("bench_supervisor", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(quick=True)
    assert [r["metric"] for r in rows] == [
        "spawn -> child ready p50", "spawn -> child ready p95", "SIGKILL -> Down delivered p50",
        "SIGKILL -> replacement ready p50", "idle USS per child (100 children)"]
    for row in rows:
        assert row["value"] > 0 and row["baseline"] > 0
        assert math.isclose(row["ratio"], row["value"] / row["baseline"], rel_tol=0.05)
        assert isinstance(row["met"], bool)
