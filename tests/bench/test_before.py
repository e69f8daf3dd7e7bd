"""``python -m caxton.bench.before``, run for real on one pair of fresh nodes.

It compares this checkout's node with another checkout's; here the other is
this one (``--same``), so the run exercises every workload and the report
without a second checkout. It never asserts a time: only that each figure
came out as a ratio beside its verdict, and that a wrong flag is one line.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT


def _before(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.bench.before", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def test_one_pair_reports_every_figure_as_a_ratio() -> None:
    done = _before("--before", str(ROOT), "--same", "--pairs", "1", "--rounds", "1")
    assert done.returncode in (0, 1), done.stderr[-2000:]
    rows = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(
        r"^  (.+?)\s+median ([0-9.]+)\s+pairs p25 [0-9.]+ \.\. p75 [0-9.]+\s+(?:NOT )?within",
        done.stdout, re.MULTILINE)}
    assert set(rows) == {"call round trip", "call_many -> 1 agent", "send_many -> 1 agent",
                         "send_many -> 10 agents"}, done.stdout
    assert all(0.2 < ratio < 5 for ratio in rows.values()), rows
    verdict_ok = all(ratio >= 0.95 for ratio in rows.values())
    assert done.returncode == (0 if verdict_ok else 1)


def test_a_folder_that_is_no_checkout_is_one_line() -> None:
    done = _before("--before", "/nonexistent")
    assert done.returncode == 2 and "not a Caxton checkout" in done.stderr
    assert "Traceback" not in done.stderr
