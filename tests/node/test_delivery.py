"""At-least-once delivery with exactly-once effects on state, under real SIGKILLs."""

from __future__ import annotations

import os
import signal
import threading

import msgpack
import pytest
import zmq

import caxton
from caxton.protocol import PROTOCOL_VERSION
from caxton.wasm.examples import example_path
from tests.helpers import wait_until


def _count(client: caxton.Client, name: str) -> int:
    return int(client.call(name, b"get", timeout=20))


@pytest.mark.timeout(180)
def test_counter_survives_20_kills_during_2000_messages(node, client):
    client.spawn("counter", example_path("counter"), snapshot_every=100,
                 intensity={"intensity": 100, "period": 10})
    acknowledged = []
    errors: list[BaseException] = []

    def stream() -> None:
        try:
            with caxton.connect(node.address, timeout=30) as sender:
                for _ in range(2000):
                    acknowledged.append(sender.send("counter", b"inc"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=stream)
    thread.start()
    killed = 0
    while killed < 20:
        status = wait_until(lambda: (s := client.status("counter")).pid and s, what="a serving pid")
        os.kill(status.pid, signal.SIGKILL)
        killed += 1
        wait_until(lambda p=status.pid: client.status("counter").pid not in (None, p),
                 what="the replacement")
    thread.join(120)
    assert not errors, errors
    assert len(acknowledged) == 2000
    wait_until(lambda: client.status("counter").mailbox_depth == 0, timeout=60, what="drain")
    assert _count(client, "counter") == 2000
    status = client.status("counter")
    assert status.restarts >= 20
    assert status.last_failure == "killed"
    assert client.dead_letters("counter") == []


@pytest.mark.timeout(120)
def test_poison_message_is_dead_lettered_while_agent_keeps_serving(client):
    client.spawn("poison", example_path("hostile/trap_on_message"), max_attempts=3)
    for _ in range(3):
        client.send("poison", b"before")
    with pytest.raises(caxton.CallFailed) as failed:
        client.call("poison", b"poison", timeout=30)
    assert failed.value.reason == "trap"
    assert client.call("poison", b"after") == b"after"
    letters = client.dead_letters("poison")
    assert len(letters) == 1
    assert letters[0].payload == b"poison"
    assert len(letters[0].reasons) == 3
    assert all(r.startswith("trap") for r in letters[0].reasons)
    status = client.status("poison")
    assert status.state == "running"
    assert status.restarts == 3


@pytest.mark.timeout(60)
def test_hung_agent_is_replaced_through_health_pings(client):
    client.spawn("echo", example_path("echo"),
                 health={"interval": 0.1, "timeout": 0.1, "misses": 2})
    pid = client.status("echo").pid
    events = client.monitor("echo", timeout=20)
    os.kill(pid, signal.SIGSTOP)
    down = next(events)
    assert down.reason == "unhealthy"
    wait_until(lambda: client.status("echo").pid not in (None, pid), what="a replacement")
    assert client.call("echo", b"alive") == b"alive"


@pytest.mark.timeout(120)
def test_node_sigkill_and_restart_brings_back_agents_and_state(node, client):
    client.spawn("counter", example_path("counter"), snapshot_every=30)
    client.spawn("echo", example_path("echo"))
    acknowledged = client.send_many("counter", [b"inc"] * 100)
    assert len(acknowledged) == 100
    node.kill()
    node.start()
    with caxton.connect(node.address, timeout=20) as again:
        names = {s.name: s.state for s in again.list_agents()}
        assert names == {"counter": "running", "echo": "running"} or set(names) == {"counter",
                                                                                    "echo"}
        wait_until(lambda: again.status("counter").state == "running", what="counter back")
        assert _count(again, "counter") == 100
        assert again.call("echo", b"still here") == b"still here"


@pytest.mark.timeout(60)
def test_stop_drains_and_snapshots(node, client):
    client.spawn("counter", example_path("counter"))
    client.send_many("counter", [b"inc"] * 50)
    status = client.stop("counter")
    assert status.state == "stopped"
    assert status.mailbox_depth == 0
    restarted = client.restart("counter")
    assert restarted.state == "running"
    assert _count(client, "counter") == 50


@pytest.mark.timeout(60)
def test_agent_to_agent_send_and_sender(client):
    client.spawn("alice", example_path("pingpong"))
    client.spawn("bob", example_path("pingpong"))
    # "bob" makes alice send "ping" to bob, who sends "pong" back to its sender
    assert client.call("alice", b"bob") == b""  # from outside any agent: no sender
    wait_until(lambda: client.call("alice", b"count") == b"1", what="the pong to come back")
    assert client.status("bob").messages_handled == 1
    assert client.call("bob", b"count") == b"0"
    # a send to an agent that does not exist is dead-lettered on the sender
    client.call("alice", b"nobody")
    letters = wait_until(lambda: client.dead_letters("alice"), what="a dead letter")
    assert "unknown agent 'nobody'" in letters[0].reasons[0]
    assert letters[0].sender == "alice"


@pytest.mark.timeout(60)
def test_an_instance_gone_before_its_snapshot_holds_up_no_later_stop(node, client):
    """A snapshot asked of an instance that is taken down before it answers is
    forgotten: whoever asked hears why, and the next drain asks the next instance
    instead of waiting out its timeout for an answer that cannot come."""
    client.spawn("counter", example_path("counter"))
    client.send("counter", b"inc")
    os.kill(client.status("counter").pid, signal.SIGSTOP)  # it can answer nothing now
    raw = zmq.Context.instance().socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect(node.address)
    try:
        # one socket keeps them in order: the snapshot is asked before the stop's drain
        raw.send(msgpack.packb([PROTOCOL_VERSION, 1, "snapshot", {"name": "counter"}]))
        raw.send(msgpack.packb([PROTOCOL_VERSION, 2, "stop",
                                {"name": "counter", "timeout": 0.5}]))
        replies = {}
        while len(replies) < 2:
            assert raw.poll(20_000), f"unanswered: {sorted({1, 2} - set(replies))}"
            request_id, kind, body = msgpack.unpackb(raw.recv(), raw=False)
            replies[request_id] = (kind, body)
    finally:
        raw.close()
    assert replies[1][0] == "error" and replies[1][1]["type"] == "AgentNotRunning", replies[1]
    assert replies[2] == ("ok", replies[2][1]) and replies[2][1]["state"] == "stopped"
    client.restart("counter")
    # the drain's own snapshot is answered by the new instance: no 60 s wait, and
    # the client's 10 s timeout would fail it
    assert client.stop("counter", timeout=60).state == "stopped"
    client.restart("counter")
    assert _count(client, "counter") == 1  # the message handled before it all is kept
