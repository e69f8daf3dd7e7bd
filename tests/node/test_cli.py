"""The ``caxton`` command line against a real node: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from caxton.wasm.examples import example_path
from tests.helpers import ROOT, free_port


def caxton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.cli.main", *args],
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))


def test_spawn_call_send_list_status_stop_remove(node):
    at = ["--node", node.address]
    spawned = caxton(*at, "agents", "spawn", "counter", str(example_path("counter")))
    assert spawned.returncode == 0, spawned.stderr
    assert "counter running" in spawned.stdout
    assert caxton(*at, "send", "counter", "inc").returncode == 0
    call = caxton(*at, "call", "counter", "get")
    assert call.stdout.strip() == "1"
    listed = caxton(*at, "--output", "json", "agents", "list")
    assert json.loads(listed.stdout)[0]["name"] == "counter"
    status = caxton("agents", "status", "counter", "--node", node.address, "--output", "json")
    assert json.loads(status.stdout)["messages_handled"] == 2
    assert "stopped" in caxton(*at, "agents", "stop", "counter").stdout
    assert caxton(*at, "agents", "remove", "counter").returncode == 0
    assert "(no agents)" in caxton(*at, "agents", "list").stdout


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert text in lines[0]


def test_unknown_agent_is_one_line(node):
    _one_line_error(caxton("--node", node.address, "agents", "status", "ghost"), 1,
                    "no agent named 'ghost'")
    _one_line_error(caxton("--node", node.address, "call", "ghost", "x"), 1, "ghost")


def test_invalid_module_is_one_line(node, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    _one_line_error(caxton("--node", node.address, "agents", "spawn", "x", str(text)), 1,
                    "module")
    _one_line_error(caxton("--node", node.address, "agents", "spawn", "x",
                           str(tmp_path / "missing.wasm")), 1, "no such file")
    _one_line_error(caxton("--node", node.address, "agents", "spawn", "x",
                           str(example_path("hostile/forbidden_import"))), 1, "validation")


def test_node_not_running_is_one_line():
    _one_line_error(caxton("--node", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.3",
                           "agents", "list"), 1, "caxton node start")


def test_bad_flags_are_one_line():
    _one_line_error(caxton("agents", "spawn"), 2, "required")
    _one_line_error(caxton("--output", "yaml", "agents", "list"), 2, "invalid choice")
    _one_line_error(caxton("agents", "frobnicate"), 2, "invalid choice")
    _one_line_error(caxton("--timeout", "soon", "agents", "list"), 2, "invalid float")
