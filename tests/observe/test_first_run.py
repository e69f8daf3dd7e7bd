"""A first run as a new user makes it: the frictions of issue 16, each held by a test."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "chaos", "schedule", "--scenario", "mixed", "--seed", "7",
     "--duration", "10000"],
])
def test_output_into_a_closed_pipe_ends_quietly(command):
    """``... | head -1``: the reader goes away; no BrokenPipeError traceback."""
    producer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=ROOT)
    assert producer.stdout is not None and producer.stderr is not None
    first = producer.stdout.readline()
    producer.stdout.close()  # what head does after its first line
    err = producer.stderr.read().decode()
    assert producer.wait(30) == 0, err
    assert first.strip()
    assert "Traceback" not in err and "BrokenPipe" not in err
