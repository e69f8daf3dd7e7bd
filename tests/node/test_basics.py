"""Spawn, call, send, stop, remove and every API error, against a real node process."""

from __future__ import annotations

import os
import signal

import msgpack
import pytest
import zmq

import caxton
from caxton.wasm.examples import example_path
from tests.helpers import wait_until


def test_spawn_call_send_stop_remove(client):
    status = client.spawn("echo", example_path("echo"))
    assert status.state == "running"
    assert status.pid and status.pid != os.getpid()
    assert client.call("echo", b"hello") == b"hello"

    client.spawn("counter", example_path("counter"))
    for _ in range(5):
        client.send("counter", b"inc")
    assert client.call("counter", b"get") == b"5"

    stopped = client.stop("counter")
    assert stopped.state == "stopped"
    with pytest.raises(caxton.AgentNotRunning):
        client.send("counter", b"inc")
    client.remove("counter")
    with pytest.raises(caxton.NoSuchAgent):
        client.status("counter")
    assert [s.name for s in client.list_agents()] == ["echo"]


def test_status_reports_process_and_counters(client):
    client.spawn("echo", example_path("echo"))
    for i in range(10):
        client.call("echo", b"x" * i)
    status = client.status("echo")
    assert status.messages_handled == 10
    assert status.memory_bytes >= 65536
    assert status.rss_bytes > 0
    assert status.health == "healthy"
    assert status.fuel_consumed > 0
    assert len(status.module_sha256) == 64


def test_module_as_wat_text_and_bytes(client):
    wat = example_path("echo").read_text()
    client.spawn("from-text", wat)
    client.spawn("from-bytes", example_path("echo").read_bytes())
    assert client.call("from-text", b"a") == b"a"
    assert client.call("from-bytes", b"b") == b"b"


def test_errors_are_typed(client, node):
    client.spawn("echo", example_path("echo"))
    with pytest.raises(caxton.AgentExists):
        client.spawn("echo", example_path("echo"))
    with pytest.raises(caxton.NoSuchAgent):
        client.call("nobody", b"x")
    with pytest.raises(caxton.ValidationFailed) as failed:
        client.spawn("bad", example_path("hostile/forbidden_import"))
    assert failed.value.report["passed"] is False
    with pytest.raises(caxton.InvalidRequest):
        client.spawn("Bad Name!", example_path("echo"))
    with pytest.raises(caxton.InvalidRequest):
        client.spawn("x", example_path("echo"), policy="sometimes")
    with pytest.raises(caxton.InvalidRequest):
        client.spawn("x", b"this is neither wasm nor wat")

    with pytest.raises(caxton.MessageTooLarge):
        client.send("echo", b"x" * (65 * 2**20))  # over the node's frame cap
    assert client.call("echo", b"still fine") == b"still fine"

    client.spawn("small", example_path("echo"), limits={"max_message_bytes": 100})
    with pytest.raises(caxton.MessageTooLarge):
        client.call("small", b"x" * 101)
    assert client.call("small", b"x" * 100) == b"x" * 100

    address = f"tcp://127.0.0.1:{_unused_port()}"
    with caxton.connect(address, timeout=0.3) as nobody, pytest.raises(caxton.NodeUnavailable):
        nobody.ping()


def test_call_timeout_and_mailbox_full(client):
    client.spawn("slow", example_path("hostile/infinite_loop"),
                 limits={"deadline_ms": 3000, "fuel": 10**12}, mailbox=3, health="off",
                 max_attempts=1)
    with pytest.raises(caxton.CallTimeout):
        client.call("slow", b"spin", timeout=0.2)
    client.send("slow", b"1")
    client.send("slow", b"2")
    with pytest.raises(caxton.MailboxFull):
        client.send("slow", b"3")
    client.remove("slow")  # not left for the node's shutdown to drain, 3 s a message


def test_guest_error_is_call_failed_with_reason(client):
    client.spawn("poison", example_path("hostile/trap_on_message"))
    with pytest.raises(caxton.CallFailed) as failed:
        client.call("poison", b"poison", timeout=20)
    assert failed.value.reason == "trap"
    assert client.call("poison", b"fine") == b"fine"


def test_malformed_frames_get_error_replies(node, client):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(node.address)
    try:
        cases = [
            [b"\xc1 not msgpack"],
            [msgpack.packb({"a": 1})],
            [msgpack.packb([99, 1, "ping", {}])],
            [msgpack.packb([1, 2, "explode", {}])],
            [msgpack.packb([1, 3, "call", {"name": 5, "payload": "str"}])],
            [msgpack.packb([1, 4, "call", []])],
            [b"one", b"two"],
        ]
        for frames in cases:
            sock.send_multipart(frames)
            assert sock.poll(5000), f"no reply to {frames!r}"
            reply = msgpack.unpackb(sock.recv())
            assert reply[1] == "error", reply
            assert reply[2]["type"] in ("InvalidRequest", "NoSuchAgent"), reply
    finally:
        sock.close(0)
    assert client.ping()["node"]


def test_monitor_yields_down_with_reason(client):
    client.spawn("echo", example_path("echo"))
    pid = client.status("echo").pid
    events = client.monitor("echo", timeout=10)
    os.kill(pid, signal.SIGKILL)
    down = next(events)
    assert down.reason == "killed"
    assert down.pid == pid
    assert down.restarting
    wait_until(lambda: client.status("echo").pid not in (None, pid), what="a replacement")
    assert client.call("echo", b"back") == b"back"
    with pytest.raises(caxton.NoSuchAgent):
        client.monitor("nobody")


def test_monitors_of_closed_clients_are_dropped(client):
    client.spawn("echo", example_path("echo"))
    kept = client.monitor("echo", timeout=10)
    client.monitor("echo").close()
    # status counts only monitors whose clients are still there (issue 16)
    wait_until(lambda: client.status("echo").monitors == 1, what="the closed monitor dropped")
    # The node finds a closed monitor when a Down to it fails; should the close
    # not have reached the node before the first Down, the next one finds it.
    for _ in range(3):
        pid = wait_until(lambda: client.status("echo").pid, what="a serving instance")
        os.kill(pid, signal.SIGKILL)
        assert next(kept).pid == pid
        if client.status("echo").monitors == 1:
            break
    assert client.status("echo").monitors == 1
    kept.close()


def _unused_port() -> int:
    from tests.conftest import free_port

    return free_port()


def test_send_many_batches_keep_order_and_refuse_whole(client):
    client.spawn("counter", example_path("counter"), mailbox=300)
    ids = client.send_many("counter", [b"inc"] * 250, batch=64, window=256)
    assert len(ids) == 250 and ids == sorted(ids)
    assert client.call("counter", b"get", timeout=20) == b"250"
    client.spawn("slow", example_path("hostile/infinite_loop"), mailbox=100, health="off",
                 limits={"deadline_ms": 5000, "fuel": 10**13}, max_attempts=1)
    client.send("slow", b"spin")
    wait_until(lambda: client.status("slow").mailbox_depth == 1, what="the spinner in flight")
    with pytest.raises(caxton.MailboxFull):
        client.send_many("slow", [b"x"] * 150, batch=150)
    assert client.status("slow").mailbox_depth == 1  # nothing of the refused batch queued
    client.remove("slow")  # not left for the node's shutdown to drain
