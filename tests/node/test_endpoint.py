"""Local clients move from loopback TCP to the node's IPC socket, and only then."""

from __future__ import annotations

from pathlib import Path

import caxton
from caxton.endpoint import is_loopback_tcp, local_endpoint, usable_ipc
from caxton.wasm import example_path
from tests.conftest import NodeProcess
from tests.helpers import wait_until


def test_a_loopback_client_ends_on_the_ipc_socket_of_its_node(node: NodeProcess):
    with caxton.connect(node.address, timeout=10) as client:
        assert client.endpoint == node.address  # nothing resolved before a request
        info = client.ping()
        assert client.endpoint == f"ipc://{node.data_dir.resolve() / 'node.sock'}"
        assert client.endpoint == info["local"]
        client.spawn("echo", example_path("echo"))
        assert client.call("echo", b"over ipc") == b"over ipc"
        assert client.send_many("echo", [b"a", b"b"]) and client.status("echo").state == "running"


def test_local_false_keeps_tcp(node: NodeProcess):
    with caxton.connect(node.address, timeout=10, local=False) as client:
        client.ping()
        assert client.endpoint == node.address


def test_the_upgrade_survives_a_node_restart(node: NodeProcess):
    with caxton.connect(node.address, timeout=10) as client:
        client.spawn("counter", example_path("counter"))
        client.call("counter", b"")
        assert client.endpoint.startswith("ipc://")
        node.kill()
        node.start()
        # the restarted node rebinds the same socket in the same data folder
        wait_until(lambda: client.status("counter").state == "running", what="counter back")
        assert client.call("counter", b"") != b""
        assert client.endpoint.startswith("ipc://")


def test_which_addresses_are_local(tmp_path: Path):
    assert is_loopback_tcp("tcp://127.0.0.1:7700")
    assert is_loopback_tcp("tcp://localhost:7700")
    assert is_loopback_tcp("tcp://[::1]:7700")
    assert not is_loopback_tcp("tcp://10.0.0.5:7700")
    assert not is_loopback_tcp("ipc:///tmp/x.sock")
    assert not is_loopback_tcp("tcp://[bad")
    assert local_endpoint(tmp_path) == f"ipc://{tmp_path / 'node.sock'}"
    assert local_endpoint(tmp_path / ("x" * 120)) is None  # too long for a Unix socket
    assert not usable_ipc(f"ipc://{tmp_path / 'nothing-here.sock'}")
    assert not usable_ipc(None) and not usable_ipc("tcp://127.0.0.1:1")
