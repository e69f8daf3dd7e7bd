"""The flight recorder: crashes kept with their messages, replayed offline to the same end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

import caxton
from caxton.wasm import example_path
from tests.helpers import ROOT, wait_until


def _caxton(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.cli.main", "--node", address, *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.timeout(120)
def test_a_recorded_trap_replays_to_the_same_outcome(observed, oclient):
    oclient.spawn("poison", example_path("hostile/trap_on_message"), max_attempts=1)
    for i in range(5):
        assert oclient.call("poison", f"before {i}".encode()) == f"before {i}".encode()
    with pytest.raises(caxton.CallFailed):
        oclient.call("poison", b"poison", timeout=30)
    crashes = wait_until(lambda: oclient.crashes("poison"), what="a crash record")
    assert len(crashes) == 1
    crash = crashes[0]
    assert crash["kind"] == "trap" and crash["replayed_messages"] == 5
    assert crash["message_id"] is not None and not crash["from_snapshot"]

    listed = _caxton(observed.address, "agents", "crashes", "poison")
    assert listed.returncode == 0, listed.stderr
    assert "#1" in listed.stdout and "trap" in listed.stdout

    replayed = _caxton(observed.address, "agents", "replay", "poison", "1")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "same outcome" in replayed.stdout and "poison" in replayed.stdout
    as_json = _caxton(observed.address, "--output", "json", "agents", "replay", "poison", "1")
    result = json.loads(as_json.stdout)
    assert result["same"] and result["reason"] == "trap" and result["replayed"] == 5

    # the dashboard's JSON and the crash list agree on the DOWN that made it
    downs = observed.overview()["downs"]
    assert downs[0]["agent"] == "poison" and downs[0]["crash"] == 1


@pytest.mark.timeout(120)
def test_out_of_fuel_is_recorded_and_replayed_a_kill_is_not(observed, oclient):
    oclient.spawn("bomb", example_path("hostile/fuel_bomb"), max_attempts=1)
    with pytest.raises(caxton.CallFailed):
        oclient.call("bomb", b"go", timeout=30)
    crash = wait_until(lambda: oclient.crashes("bomb"), what="a crash record")[0]
    assert crash["kind"] == "out_of_fuel"
    replayed = _caxton(observed.address, "agents", "replay", "bomb", str(crash["id"]))
    assert replayed.returncode == 0 and "out_of_fuel" in replayed.stdout

    oclient.spawn("echo", example_path("echo"))
    pid = oclient.status("echo").pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: oclient.status("echo").pid not in (None, pid), what="replacement")
    assert oclient.crashes("echo") == []
    missing = _caxton(observed.address, "agents", "replay", "echo", "7")
    assert missing.returncode == 1 and "has no crash 7" in missing.stderr
    assert "Traceback" not in missing.stderr
