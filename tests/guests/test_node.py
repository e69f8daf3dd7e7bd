"""Compiled Rust and C agents on a real node: state across SIGKILLs, sends, limits."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

import caxton
from caxton.testing import NodeHandle
from tests.guests.conftest import BuildExample
from tests.helpers import wait_until


def _serving_pid(client: caxton.Client, name: str) -> int:
    def pid() -> int:
        status = client.status(name)
        return status.pid or 0 if status.state == "running" else 0

    return wait_until(pid, timeout=30, what=f"{name} serving")


def _replaced(client: caxton.Client, name: str, killed: int) -> None:
    wait_until(lambda: client.status(name).pid not in (None, killed), timeout=30,
               what="the replacement")


@pytest.mark.timeout(120)
def test_counter_survives_sigkills_with_its_state(language: str, build_example: BuildExample,
                                                  caxton_node: NodeHandle,
                                                  caxton_client: caxton.Client) -> None:
    module = build_example(language, "counter")
    caxton_client.spawn("counter", module, snapshot_every=7, security="strict",
                        intensity={"intensity": 20, "period": 10})
    sent = 0
    for _ in range(5):
        caxton_client.send_many("counter", [b"inc"] * 25)
        sent += 25
        killed = _serving_pid(caxton_client, "counter")
        os.kill(killed, signal.SIGKILL)
        _replaced(caxton_client, "counter", killed)
    assert int(caxton_client.call("counter", b"get", timeout=30)) == sent
    status = caxton_client.status("counter")
    assert status.restarts >= 5
    assert status.last_failure == "killed"
    assert caxton_client.dead_letters("counter") == []


@pytest.mark.timeout(120)
def test_send_between_rust_and_c_agents(build_example: BuildExample,
                                        caxton_client: caxton.Client) -> None:
    caxton_client.spawn("alice", build_example("rust", "pingpong"))
    caxton_client.spawn("bob", build_example("c", "pingpong"))
    assert caxton_client.call("alice", b"bob") == b""  # from outside any agent
    wait_until(lambda: caxton_client.call("alice", b"count") == b"1", what="bob's pong")
    assert caxton_client.call("bob", b"alice") == b""
    wait_until(lambda: caxton_client.call("bob", b"count") == b"1", what="alice's pong")
    assert caxton_client.status("alice").messages_handled >= 3
    caxton_client.call("alice", b"nobody")
    letters = wait_until(lambda: caxton_client.dead_letters("alice"), what="a dead letter")
    assert "unknown agent 'nobody'" in letters[0].reasons[0]


LIMITS: list[tuple[str, str, dict[str, Any]]] = [
    ("spin", "out_of_fuel", {"fuel": 1_000_000}),
    ("spin", "timeout", {"fuel": 10**13, "deadline_ms": 200}),
    ("grow", "memory_limit", {"memory_bytes": 8 * 65536}),
    ("panic", "trap", {}),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("payload", "reason", "limits"), LIMITS,
                         ids=[f"{p}-{r}" for p, r, _ in LIMITS])
def test_limits_classify_in_a_compiled_guest(language: str, build_example: BuildExample,
                                             caxton_client: caxton.Client, payload: str,
                                             reason: str, limits: dict[str, Any]) -> None:
    caxton_client.spawn("echo", build_example(language, "echo"))
    caxton_client.spawn("bad", build_example(language, "limits"), limits=limits,
                        max_attempts=2)
    with pytest.raises(caxton.CallFailed) as failed:
        caxton_client.call("bad", payload.encode(), timeout=60)
    assert failed.value.reason == reason
    assert caxton_client.call("echo", b"unharmed") == b"unharmed"
    (letter,) = caxton_client.dead_letters("bad")
    assert [r.split(":")[0] for r in letter.reasons] == [reason, reason]
    _serving_pid(caxton_client, "bad")
    assert caxton_client.call("bad", b"fine") == b"ok"
