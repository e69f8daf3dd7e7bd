"""``caxton top`` in a terminal, and the node's JSON logs, against real nodes."""

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
from tests.observe.conftest import start_observed


@pytest.mark.timeout(60)
def test_top_shows_the_agents_and_the_downs(observed, oclient):
    oclient.spawn("echo", example_path("echo"))
    oclient.spawn("counter", example_path("counter"))
    pid = oclient.status("counter").pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: oclient.status("counter").pid not in (None, pid), what="replacement")
    done = subprocess.run(
        [sys.executable, "-m", "caxton.cli.main", "--node", observed.address, "top", "--once"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env=dict(os.environ, COLUMNS="160"))
    assert done.returncode == 0, done.stderr
    assert "echo" in done.stdout and "counter" in done.stdout
    assert "running" in done.stdout and "16.0 MiB" in done.stdout
    assert "killed" in done.stdout and "restarting" in done.stdout


@pytest.mark.timeout(90)
def test_json_logs_one_event_per_line(tmp_path):
    from caxton.launch import stop_node

    node = start_observed(tmp_path, "--log-format", "json")
    try:
        with caxton.connect(node.address, timeout=10) as client:
            client.spawn("echo", example_path("echo"))
            with pytest.raises(caxton.ValidationFailed):
                client.spawn("bad", example_path("hostile/forbidden_import"))
            pid = client.status("echo").pid
            os.kill(pid, signal.SIGKILL)

            def events() -> list[dict]:
                lines = [line for line in node.log().splitlines() if line.strip()]
                return [json.loads(line) for line in lines]

            wait_until(lambda: any(e.get("event") == "down" for e in events()),
                       what="a DOWN event in the log")
    finally:
        stop_node(node.process)
    records = events()
    for record in records:  # every line is one JSON object with the common fields
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
    down = next(e for e in records if e.get("event") == "down")
    assert down["agent_id"] == "echo" and down["reason"] == "killed"
    assert down["restarting"] is True and down["pid"] == pid
    failed = next(e for e in records if e.get("event") == "validation_failed")
    assert failed["agent_id"] == "bad" and failed["stages"]["policy"] == "failed"
