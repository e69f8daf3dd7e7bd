"""A misbehaving agent harms only its own instance: the node and other agents keep serving."""

from __future__ import annotations

import pytest

import caxton
from caxton.wasm.examples import example_path
from tests.helpers import wait_until

# Healthy until its first message; then caxton_health answers 7.
SICK_AGENT = """
(module
  (memory (export "memory") 1)
  (global $sick (mut i32) (i32.const 0))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (global.set $sick (i32.const 7))
    (i64.const 0))
  (func (export "caxton_health") (result i32) (global.get $sick)))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("example", "payload", "reason", "limits"), [
    ("hostile/fuel_bomb", b"go", "out_of_fuel", {"fuel": 1_000_000}),
    ("hostile/infinite_loop", b"go", "timeout", {"fuel": 10**13, "deadline_ms": 200}),
    ("hostile/memory_bomb", b"go", "memory_limit", {"memory_bytes": 4 * 65536}),
    ("hostile/deep_recursion", b"go", "stack_overflow", {}),
    ("hostile/bad_reply", b"oob", "bad_reply", {}),
    ("hostile/bad_reply", b"huge", "bad_reply", {"memory_bytes": 4 * 2**20}),
])
def test_failures_are_classified_and_contained(client, example, payload, reason, limits):
    client.spawn("echo", example_path("echo"))
    client.spawn("bad", example_path(example), limits=limits, max_attempts=2)
    with pytest.raises(caxton.CallFailed) as failed:
        client.call("bad", payload, timeout=60)
    assert failed.value.reason == reason
    assert client.call("echo", b"unharmed") == b"unharmed"
    (letter,) = client.dead_letters("bad")
    assert [r.split(":")[0] for r in letter.reasons] == [reason, reason]
    status = wait_until(lambda: (s := client.status("bad")).state == "running" and s.pid and s,
                      what="the bad agent back")
    assert status.restarts == 2
    assert status.last_failure.startswith(reason)
    assert client.ping()["agents"] == 2


def test_guest_reported_health_shows_in_status_without_a_kill(client):
    first = client.spawn("sick", SICK_AGENT, health={"interval": 0.05, "timeout": 0.05,
                                                     "misses": 3})
    wait_until(lambda: client.status("sick").health == "healthy", what="a first probe")
    client.call("sick", b"fall ill")
    status = wait_until(lambda: (s := client.status("sick")).health.startswith("unhealthy") and s,
                      what="the guest's health verdict")
    assert "caxton_health returned 7" in status.health
    assert status.pid == first.pid
    assert status.state == "running"


def test_bad_limit_values_are_invalid_requests(client):
    with pytest.raises(caxton.InvalidRequest) as refused:
        client.spawn("x", example_path("echo"), limits={"fuel": 2**64 - 1})
    assert refused.value.data["field"] == "limits.fuel"  # over the node's maximum
    with pytest.raises(caxton.InvalidRequest):
        client.spawn("x", example_path("echo"), limits={"fuel": 2**80})  # not even encodable
    # a limit too small for the module is the validator's call, with its report
    with pytest.raises(caxton.ValidationFailed) as failed:
        client.spawn("x", example_path("echo"), limits={"memory_bytes": 1000})
    assert "memory_limit" in str(failed.value)
    with pytest.raises(caxton.NoSuchAgent):
        client.status("x")
