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


def _demo(tmp_path, address, *extra, cwd=ROOT):
    return subprocess.Popen(
        [sys.executable, "-m", "caxton.demo", "--data-dir", str(tmp_path / "data"),
         "--listen", address, *extra], cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=child_env())


def child_env():
    from caxton.launch import child_env as env

    return env()


@pytest.mark.timeout(120)
def test_demo_refuses_to_tour_a_node_it_did_not_start(node, client, tmp_path):
    """With a node already on the address, the demo stops with a clear message and
    SIGKILLs nothing on the other node."""
    from caxton.wasm import example_path

    client.spawn("counter", example_path("counter"))
    pid = client.status("counter").pid
    demo = _demo(tmp_path, node.address, "--exit", "--http", "none")
    out, err = demo.communicate(timeout=90)
    assert demo.returncode == 1, out + err
    assert "another node" in err and "already answers at" in err
    assert "Traceback" not in err
    assert client.status("counter").pid == pid
    assert client.status("counter").restarts == 0


@pytest.mark.timeout(120)
def test_sigterm_to_the_demo_stops_its_node(tmp_path):
    import signal

    import caxton
    from tests.helpers import free_port, wait_until

    address = f"tcp://127.0.0.1:{free_port()}"
    demo = _demo(tmp_path, address, "--http", "none")
    assert demo.stdout is not None
    lines = []
    for line in demo.stdout:  # the tour is done when it names the next steps
        lines.append(line)
        if "Ctrl-C stops it" in line:
            break
    assert any("agents list" in line for line in lines), "".join(lines)
    with caxton.connect(address, timeout=5) as c:
        node_pid = c.ping()["pid"]
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(60) == 0
    import psutil

    wait_until(lambda: not psutil.pid_exists(node_pid)
               or psutil.Process(node_pid).status() == psutil.STATUS_ZOMBIE,
               timeout=30, what="the demo's node to stop")


@pytest.mark.timeout(120)
def test_relative_data_dir_is_the_callers(tmp_path):
    """``--data-dir rel`` lands in the caller's working directory, not the checkout's."""
    from tests.helpers import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "caxton.demo", "--data-dir", "rel-data", "--listen", address,
         "--exit", "--http", "none"], cwd=tmp_path, capture_output=True, text=True,
        timeout=100, env=child_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "rel-data" / "caxton.db").exists()
    assert not (ROOT / "rel-data").exists()


@pytest.mark.timeout(30)
def test_no_node_fails_fast_with_a_hint(tmp_path):
    import time

    import caxton
    from tests.helpers import free_port

    for address in (f"tcp://127.0.0.1:{free_port()}", f"ipc://{tmp_path}/node.sock"):
        with caxton.connect(address, timeout=5) as c:
            started = time.monotonic()
            with pytest.raises(caxton.NodeUnavailable) as gone:
                c.call("echo", b"hi")
            assert time.monotonic() - started < 1.0
            assert "caxton node start" in gone.value.message


@pytest.mark.timeout(60)
def test_a_str_payload_is_a_clear_error(client):
    import caxton
    from caxton.wasm import example_path

    client.spawn("echo", example_path("echo"))
    for bad in ("text", 5, None):
        with pytest.raises(caxton.InvalidRequest, match="a payload is bytes") as refused:
            client.call("echo", bad)
        assert not isinstance(refused.value, TypeError)
        with pytest.raises(caxton.InvalidRequest, match="a payload is bytes"):
            client.send("echo", bad)
    with pytest.raises(caxton.InvalidRequest) as refused_str:
        client.call("echo", "text")
    assert "encode()" in str(refused_str.value)
    assert client.call("echo", bytearray(b"ok")) == b"ok"


@pytest.mark.timeout(60)
def test_a_stopped_agent_shows_no_health_and_no_uptime(client):
    from caxton.wasm import example_path

    client.spawn("echo", example_path("echo"))
    assert client.status("echo").health == "healthy"
    stopped = client.stop("echo")
    assert stopped.uptime_s is None and stopped.health == "no instance"
    status = client.status("echo")
    assert status.state == "stopped" and status.uptime_s is None
    assert status.health == "no instance"


MONITOR_CLIENT = """
import sys, caxton
with caxton.connect(sys.argv[1], timeout=10) as c:
    events = c.monitor("echo")
    print("monitoring", flush=True)
    next(events)
"""


@pytest.mark.timeout(60)
def test_a_killed_monitoring_client_is_no_longer_counted(node, client):
    from caxton.wasm import example_path
    from tests.helpers import wait_until

    client.spawn("echo", example_path("echo"))
    watcher = subprocess.Popen([sys.executable, "-c", MONITOR_CLIENT, node.address],
                               stdout=subprocess.PIPE, text=True, env=child_env())
    assert watcher.stdout is not None and watcher.stdout.readline().strip() == "monitoring"
    assert client.status("echo").monitors == 1
    watcher.kill()
    watcher.wait(10)
    wait_until(lambda: client.status("echo").monitors == 0, timeout=10,
               what="the dead client's monitor to go")
    assert client.list_agents()[0].monitors == 0


@pytest.mark.timeout(60)
def test_a_module_given_by_path_is_named_by_its_path(client, tmp_path):
    import caxton

    broken = tmp_path / "broken.wat"
    broken.write_text("(module (func (export \"caxton_handle\") oops))")
    with pytest.raises(caxton.CaxtonError) as failed:
        client.spawn("broken", str(broken))
    assert "the given bytes" not in failed.value.message
    assert str(broken) in failed.value.message


@pytest.mark.timeout(60)
def test_a_message_over_the_limit_says_so_plainly(client):
    import caxton
    from caxton.wasm import example_path

    client.spawn("echo", example_path("echo"), limits={"max_message_bytes": 10})
    with pytest.raises(caxton.MessageTooLarge) as refused:
        client.call("echo", b"x" * 11)
    assert "''s" not in refused.value.message
    assert refused.value.message == ("message of 11 bytes is over the limit of 10 bytes of"
                                     " agent 'echo'")


@pytest.mark.timeout(60)
def test_the_supervisor_docs_example_runs_as_written():
    doc = (ROOT / "docs" / "supervisor.md").read_text()
    example = ROOT / "examples" / "supervisor" / "echo_tree.py"
    assert example.read_text() in doc  # the page shows the file itself
    assert "/work/" not in doc and "/home/" not in doc
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                          timeout=50, cwd=ROOT, env=child_env())
    assert done.returncode == 0, done.stderr
    assert "w1 hi" in done.stdout and "p1 pool up" in done.stdout
    assert "w1 ['echo', {'any': 'msgpack value'}]" in done.stdout


@pytest.mark.timeout(180)
def test_ping_and_status_answer_at_once_during_recovery(tmp_path):
    """A restarted node answers a ping at once, showing the recovery, while it brings
    its agents back; every agent is back and answers afterwards."""
    import zmq

    import caxton
    from caxton import protocol
    from caxton.launch import spawn_node, start_node, stop_node
    from caxton.wasm import example_path
    from tests.helpers import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    node = start_node(address, tmp_path / "data")
    with caxton.connect(address, timeout=30) as c:
        for i in range(60):
            c.spawn(f"a{i:02d}", example_path("counter"))
        c.call("a00", b"inc")
    assert stop_node(node) == 0
    # a ping waiting in a socket that connects by itself once the node listens: it is
    # read in the node's first loop turn, so it sees the recovery however fast that is
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RECONNECT_IVL, 5)
    sock.connect(address)
    sock.send(protocol.encode_request(1, "ping", {}))
    node = spawn_node(address, tmp_path / "data")
    try:
        assert sock.poll(30_000), "the node never answered the waiting ping"
        _, kind, info = protocol.decode_reply(sock.recv())
        assert kind == "ok" and info["recovering"] is not None, info
        done, total = info["recovering"]
        assert total == 60 and 0 <= done < 60
        sock.close(0)
        with caxton.connect(address, timeout=30) as c:
            assert c.call("a00", b"get") == b"1"
            assert len(c.list_agents()) == 60
    finally:
        stop_node(node)
