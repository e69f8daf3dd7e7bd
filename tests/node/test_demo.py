"""The README's first command runs the demo: it must show an agent coming back with its state."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT, free_port


@pytest.mark.timeout(120)
def test_demo_tour_kills_and_recovers_counter(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    args = [sys.executable, "-m", "caxton.demo", "--data-dir", str(tmp_path / "data"),
            "--listen", address, "--exit"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=100, cwd=str(ROOT))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "DOWN reason='killed'" in first.stdout
    back = re.search(r"count (\d+) \(was (\d+)\)", first.stdout)
    assert back and back.group(1) == back.group(2) == "25"
    # a second run finds the agents in the data folder and their state intact
    second = subprocess.run(args, capture_output=True, text=True, timeout=100, cwd=str(ROOT))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "brought back from the data folder" in second.stdout
    again = re.search(r"count (\d+) \(was (\d+)\)", second.stdout)
    assert again and again.group(1) == again.group(2) == "50"
