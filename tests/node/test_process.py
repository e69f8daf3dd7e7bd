"""The node as a process: signals, the data-folder lock, process titles."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

import caxton
from caxton.launch import free_loopback_port
from caxton.wasm.examples import example_path
from tests.helpers import ROOT, wait_until


@pytest.mark.timeout(90)
def test_sigterm_drains_snapshots_and_agents_come_back(node, client):
    client.spawn("counter", example_path("counter"), snapshot_every=1000)
    client.send_many("counter", [b"inc"] * 40)
    agent_pid = client.status("counter").pid
    assert psutil.Process(agent_pid).name().startswith("caxton agent counter") or \
        "caxton agent counter" in " ".join(psutil.Process(agent_pid).cmdline())
    assert node.terminate() == 0
    assert not psutil.pid_exists(agent_pid) or psutil.Process(agent_pid).status() == "zombie"
    assert "Traceback" not in node.log()
    node.start()
    with caxton.connect(node.address, timeout=20) as again:
        status = wait_until(lambda: (s := again.status("counter")).state == "running" and s,
                          what="the agent back")
        assert status.pid != agent_pid
        assert again.call("counter", b"get") == b"40"


@pytest.mark.timeout(60)
def test_second_signal_stops_at_once(node, client):
    client.spawn("slow", example_path("hostile/infinite_loop"), health="off",
                 limits={"deadline_ms": 20_000, "fuel": 10**13})
    client.send("slow", b"spin")  # keeps the agent busy: a drain would wait for it
    wait_until(lambda: client.status("slow").mailbox_depth == 1, what="the message in flight")
    node.process.send_signal(signal.SIGTERM)
    node.process.send_signal(signal.SIGINT)
    assert node.process.wait(15) == 0


def test_process_titles(node, client):
    client.spawn("echo", example_path("echo"))
    titles = {" ".join(p.cmdline()) for p in psutil.Process(node.process.pid).children(True)}
    assert "caxton node n1" in " ".join(psutil.Process(node.process.pid).cmdline())
    assert any(t.startswith("caxton agent echo") for t in titles), titles


def test_second_node_on_the_same_data_folder_is_refused(node):
    result = subprocess.run(
        [sys.executable, "-m", "caxton.node", "--data-dir", str(node.data_dir),
         "--listen", "tcp://127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert result.returncode == 1
    assert "another node is using the data folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_free_loopback_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    """Nodes started together each get their own port, one no outgoing connection takes."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_loopback_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", ports[-1]))


@pytest.mark.timeout(90)
def test_a_killed_node_leaves_its_runtime_socket_in_the_data_folder_for_the_next_start(
        node, client):
    """Nothing piles up in /tmp from nodes killed with SIGKILL (crashes, chaos runs)."""
    client.spawn("echo", example_path("echo"))
    socket_file = node.data_dir / "run" / "router"
    assert socket_file.is_socket()
    temp_folders = set(Path(tempfile.gettempdir()).glob("sup-*"))
    node.kill()
    assert socket_file.is_socket()  # left behind: nobody removed it
    node.start()
    with caxton.connect(node.address, timeout=20) as again:
        wait_until(lambda: again.status("echo").state == "running", what="echo back")
        assert again.call("echo", b"hi") == b"hi"
    assert socket_file.is_socket()
    assert set(Path(tempfile.gettempdir()).glob("sup-*")) <= temp_folders
