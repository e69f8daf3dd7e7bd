"""The benchmark command, run for real in quick mode: every figure must come out.

This is a smoke test of ``python -m caxton.bench --quick``: it starts real
nodes, agents and baselines. It never asserts a time (that is the benchmark's
job, in its table); it asserts that each figure was produced as a number,
or says "not installed" for the Ray comparison when Ray is absent. A figure
that cannot be produced because a part of Caxton is broken fails here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from caxton.bench import FIGURES

ROOT = Path(__file__).resolve().parents[2]
RAY_PRESENT = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run([sys.executable, "-m", "caxton.bench", "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=420, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.timeout(440)
def test_every_figure_is_produced(quick_run: tuple[dict[str, Any], str]) -> None:
    report, _ = quick_run
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == {f.key for f in FIGURES}
    problems = []
    for figure in FIGURES:
        row = rows[figure.key]
        if figure.full_only:
            expected = "skipped"
        elif figure.ray and not RAY_PRESENT:
            expected = "not installed"
        else:
            expected = "ok"
        if row["status"] != expected:
            problems.append(f"{figure.key}: {row['status']} {row['reason']}".strip())
            continue
        if expected != "ok":
            continue
        if not (_number(row["median"]) and row["median"] > 0):
            problems.append(f"{figure.key}: median {row['median']!r}")
        if figure.baseline and not (_number(row["baseline"]) and row["baseline"] > 0):
            problems.append(f"{figure.key}: baseline {row['baseline']!r}")
        if figure.baseline and not _number(row["ratio"]):
            problems.append(f"{figure.key}: ratio {row['ratio']!r}")
        if figure.tail and not _number(row["tail"]):
            problems.append(f"{figure.key}: {figure.tail} {row['tail']!r}")
        if figure.target is not None and not isinstance(row["met"], bool):
            problems.append(f"{figure.key}: target verdict {row['met']!r}")
        if row["samples"] < 1:
            problems.append(f"{figure.key}: no samples")
    assert not problems, "figures not produced:\n" + "\n".join(problems)


@pytest.mark.timeout(440)
def test_table_shows_every_figure_and_verdicts(quick_run: tuple[dict[str, Any], str]) -> None:
    report, table = quick_run
    for figure in FIGURES:
        assert figure.title in table
    verdicts = [row for row in report["rows"] if row["met"] is not None]
    assert verdicts, "no target was judged"
    for row in verdicts:
        line = next(line for line in table.splitlines() if line.startswith(row["figure"]))
        assert line.rstrip().endswith("NOT MET" if row["met"] is False else "met")


@pytest.mark.timeout(440)
def test_report_records_the_run(quick_run: tuple[dict[str, Any], str]) -> None:
    report, _ = quick_run
    meta = report["meta"]
    assert meta["mode"] == "quick"
    assert meta["versions"]["wasmtime"] and meta["versions"]["pyzmq"]
    assert meta["machine"]["cpus"] >= 1
    assert set(meta["benchmarks"]) == {f.benchmark for f in FIGURES}
    assert meta["duration_s"] > 0
