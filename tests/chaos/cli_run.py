"""One chaos run through the command line, as a user starts it, with its report read back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import ROOT


def run_passing(tmp_path: Path, scenario: str, *, seed: int, duration: float, agents: int,
                counters: int) -> dict[str, Any]:
    """Run ``python -m chaos run`` and return its report, having checked the run PASSed
    with nothing lost or duplicated and at least half the offered load acknowledged."""
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "chaos", "run", "--scenario", scenario, "--seed", str(seed),
         "--duration", f"{duration:g}", "--agents", str(agents), "--counters", str(counters),
         "--report", str(report_path), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=160)
    report: dict[str, Any] = json.loads(report_path.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("PASS")
    assert report["verdict"] == "PASS" and report["reasons"] == []
    messages = report["messages"]
    assert messages["lost"] == 0 and messages["duplicated"] == 0
    assert messages["acknowledged"] > duration * 1000 * 0.5
    return report
