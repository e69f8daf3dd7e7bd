"""The node's budgets: descriptors, agents, memory. Past one a spawn is refused, never an abort."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import pytest

import caxton
from caxton.launch import NodeDidNotStart, stop_node
from caxton.wasm import example_path
from tests.helpers import free_port, wait_until


def _descriptors_1024() -> None:
    """In the node before exec: the soft and hard limit most Linux systems give a user."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def _half_limit() -> None:
    """Soft 512 under a hard 4096: the node must raise it to the hard limit itself."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 4096))


def _node(tmp_path: Path, preexec=None, extra=()):  # type: ignore[no-untyped-def]
    from caxton.launch import spawn_node, wait_until_serving

    address = f"tcp://127.0.0.1:{free_port()}"
    log = open(tmp_path / "node.log", "ab")  # noqa: SIM115 - closed with the node
    process = spawn_node(address, tmp_path / "data", output=log, preexec_fn=preexec,
                         extra=extra)
    try:
        wait_until_serving(address, process, timeout=30)
    except NodeDidNotStart:
        stop_node(process, timeout=5)
        raise AssertionError((tmp_path / "node.log").read_text()) from None
    return address, process


@pytest.mark.timeout(240)
def test_spawning_past_the_descriptor_budget_is_refused_and_the_node_lives(
        tmp_path: Path) -> None:
    address, process = _node(tmp_path, _descriptors_1024)
    try:
        with caxton.connect(address, timeout=30) as client:
            budget = client.ping()["budget"]
            assert budget["descriptor_limit"] == 1024
            assert 230 <= budget["max_agents"] <= (1024 - 256) // 3
            spawned = 0
            with pytest.raises(caxton.ResourceExhausted) as refused:
                for i in range(400):  # the old node aborted at about 334
                    client.spawn(f"e{i}", example_path("echo"), health=None)
                    spawned += 1
            assert refused.value.data["budget"] == "agents", (refused.value, spawned, budget)
            assert spawned == budget["max_agents"]
            # still alive, every agent still serving, and new clients still get in
            assert process.poll() is None
            assert client.call("e0", b"hi") == b"hi"
            assert client.call(f"e{spawned - 1}", b"hi") == b"hi"
            with caxton.connect(address, timeout=10) as newcomer:
                assert newcomer.ping()["budget"]["agents"] == spawned
            # removing one makes room for one
            client.remove("e0")
            client.spawn("again", example_path("echo"), health=None)
        # and a node restarted on this folder brings them all back, within budget
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        address, process = _node(tmp_path, _descriptors_1024)
        with caxton.connect(address, timeout=30) as client:
            # requests wait for the recovery (seconds for 249 agents on a busy machine)
            wait_until(lambda: client.ping()["recovering"] is None, timeout=120,
                       what="the node to bring its agents back")
            assert client.call("again", b"back") == b"back"
            assert client.ping()["budget"]["agents"] == spawned
    finally:
        stop_node(process)


@pytest.mark.timeout(60)
def test_the_soft_descriptor_limit_is_raised_to_the_hard_one(tmp_path: Path) -> None:
    address, process = _node(tmp_path, _half_limit)
    try:
        with caxton.connect(address, timeout=10) as client:
            assert client.ping()["budget"]["descriptor_limit"] == 4096
    finally:
        stop_node(process)


@pytest.mark.timeout(60)
def test_agent_and_memory_budgets_refuse_with_the_budget_named(tmp_path: Path) -> None:
    address, process = _node(tmp_path, extra=("--max-agents", "2",
                                             "--memory-budget", str(40 * 2**20)))
    try:
        with caxton.connect(address, timeout=10) as client:
            client.spawn("a", example_path("echo"), limits={"memory_bytes": 16 * 2**20})
            with pytest.raises(caxton.ResourceExhausted, match="memory budget") as memory:
                client.spawn("b", example_path("echo"), limits={"memory_bytes": 32 * 2**20})
            assert memory.value.data["budget"] == "memory"
            client.spawn("b", example_path("echo"), limits={"memory_bytes": 16 * 2**20})
            with pytest.raises(caxton.ResourceExhausted) as agents:
                client.spawn("c", example_path("echo"), limits={"memory_bytes": 2**20})
            assert agents.value.data["budget"] == "agents"
            # a stopped agent holds no process: it makes room, and restarting it needs room
            client.stop("a")
            client.spawn("c", example_path("echo"), limits={"memory_bytes": 2**20})
            with pytest.raises(caxton.ResourceExhausted):
                client.restart("a")
            assert [s.name for s in client.list_agents()] == ["a", "b", "c"]
            usage = client.ping()["budget"]
            assert usage["agents"] == 2
            assert usage["memory_bytes"] == 17 * 2**20
    finally:
        stop_node(process)
