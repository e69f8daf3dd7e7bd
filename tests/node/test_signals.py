"""Signals and isolation on a real node: what an external fault signal to an
agent means, and that an agent's descendants end with it (docs/supervisor.md,
"Signals"; docs/security.md, "Signals and isolation")."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import caxton
from caxton.wasm.examples import example_path
from tests.helpers import free_port, wait_until
from tests.supervisor.sup_helpers import host_allows_memory_cgroups

# A real fault inside wasm: a load past the end of linear memory (a guard-page
# SIGSEGV that wasmtime turns into a trap).
OUT_OF_BOUNDS = """
(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (drop (i32.load (i32.const 0x7ffffff0)))
    (i64.const 0)))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE],
                         ids=lambda s: s.name)
def test_an_external_fault_signal_ends_in_a_down_with_its_name(client, signum):
    first = client.spawn("echo", example_path("echo"))
    assert client.call("echo", b"before") == b"before"
    with client.monitor("echo", timeout=20) as events:
        os.kill(first.pid, signum)
        down = next(events)
    assert down.pid == first.pid
    assert down.reason == f"signal:{signal.Signals(signum).name}"
    assert down.restarting
    again = wait_until(lambda: (s := client.status("echo")).state == "running"
                       and s.pid not in (None, first.pid) and s, what="a new instance")
    assert again.last_failure.startswith(f"signal:{signal.Signals(signum).name}")
    assert client.call("echo", b"after") == b"after"


@pytest.mark.timeout(60)
def test_a_fault_inside_wasm_stays_a_trap_of_that_message(client):
    first = client.spawn("oob", OUT_OF_BOUNDS, max_attempts=1)
    with pytest.raises(caxton.CallFailed) as failed:
        client.call("oob", b"go", timeout=30)
    assert failed.value.reason == "trap"
    assert "out of bounds" in str(failed.value)
    status = wait_until(lambda: (s := client.status("oob")).pid not in (None, first.pid) and s,
                        what="the next instance")
    assert not status.last_failure.startswith("signal:")


def _join_group(pgid: int) -> subprocess.Popen[bytes]:
    """A process in the agent's process group that ignores SIGTERM: only the
    sweep's SIGKILL ends it (a stand-in for whatever an agent process forks)."""
    member = subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 600"],
                              process_group=pgid, stdin=subprocess.DEVNULL)
    # until the shell has set its trap and become `sleep`, a SIGTERM still ends it
    wait_until(lambda: Path(f"/proc/{member.pid}/comm").read_text().strip() == "sleep",
               what="the group member to ignore SIGTERM")
    return member


@pytest.mark.timeout(60)
def test_an_agent_process_leads_a_group_that_dies_with_it(client):
    first = client.spawn("echo", example_path("echo"))
    assert os.getpgid(first.pid) == first.pid
    member = _join_group(first.pid)
    try:
        os.kill(first.pid, signal.SIGKILL)
        assert member.wait(10) == -signal.SIGKILL
    finally:
        member.kill()
    again = wait_until(lambda: (s := client.status("echo")).pid not in (None, first.pid) and s,
                       what="a new instance")
    assert os.getpgid(again.pid) == again.pid
    member = _join_group(again.pid)
    try:
        client.stop("echo")
        assert member.wait(10) == -signal.SIGKILL
    finally:
        member.kill()


# Grows linear memory to 64 MiB and writes to every page of it: within its
# guest limit, over a cgroup cap that leaves the process nothing beside it.
FILL_64_MIB = """
(module
  (memory (export "memory") 1)
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_handle") (param i32 i32) (result i64) (local $p i32)
    (drop (memory.grow (i32.const 1023)))
    (loop $touch
      (i32.store (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $p) (i32.const 0x4000000))))
    (i64.const 0)))
"""
TIGHT = {"memory_bytes": 64 * 2**20, "max_message_bytes": 4096, "max_reply_bytes": 4096}


@pytest.fixture
def tight_client(tmp_path: Path) -> Iterator[caxton.Client]:
    """A node whose agent cgroups allow nothing beside the guest's memory limit."""
    from caxton.launch import start_node, stop_node

    address = f"tcp://127.0.0.1:{free_port()}"
    with open(tmp_path / "node.log", "ab") as log:
        process = start_node(address, tmp_path / "data", output=log,
                             extra=["--agent-memory-overhead", "0"])
    try:
        with caxton.connect(address, timeout=10) as client:
            yield client
    finally:
        stop_node(process)


@pytest.mark.timeout(90)
def test_a_process_over_its_cgroup_cap_is_oom_killed_with_a_down_that_says_so(tight_client):
    cgroups = tight_client.ping()["cgroups"]
    first = tight_client.spawn("fill", FILL_64_MIB, limits=TIGHT, max_attempts=1)
    if host_allows_memory_cgroups():
        assert cgroups["enforced"] and cgroups["memory"], cgroups
        assert cgroups["agent_memory_overhead"] == 0
        with tight_client.monitor("fill", timeout=30) as events:
            tight_client.send("fill", b"go")
            down = next(events)
        assert down.pid == first.pid
        assert down.reason == "oom_killed"
        (letter,) = wait_until(lambda: tight_client.dead_letters("fill"), what="a dead letter")
        assert letter.reasons == ["oom_killed"]
    else:  # the degraded mode, said so; the guest's own limit still holds
        assert cgroups["mode"] == "none" and not cgroups["enforced"]
        assert cgroups["reason"]
        assert tight_client.call("fill", b"go", timeout=30) == b""
