"""The benchmark script runs and reports both paths (figures are not asserted: no timed tests)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_wasm.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_wasm", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_handle_rates_reports_both_paths() -> None:
    figures = _load().measure_handle_rates(0.2)
    assert figures["payload_bytes"] == 100
    assert figures["stock_per_s"] > 0
    if figures["fast_path_available"]:
        assert figures["fast_per_s"] > 0
        assert figures["ratio"] == pytest.approx(figures["fast_per_s"] / figures["stock_per_s"])
    assert figures["target_met"] == (figures["fast_per_s"] >= 100_000)


@pytest.mark.timeout(60)
def test_script_prints_the_figures_side_by_side() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", "0.2"],
        capture_output=True,
        text=True,
        timeout=50,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "stock path" in out and "fast path" in out and "msg/s" in out
    assert "target ≥100k/s: " in out
