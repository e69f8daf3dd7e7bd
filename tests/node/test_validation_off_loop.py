"""Validation runs in the validator process: no module, and no request, stalls the node."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

import caxton
from caxton.bench.agents import spin_init_module
from caxton.wasm import example_path
from tests.conftest import NodeProcess

# caxton_init spins until the deadline interrupts it
SPIN_INIT = spin_init_module()

# caxton_init grows memory to 1 GiB and touches every page
FILL_INIT = b"""
(module
  (memory (export "memory") 1)
  (func (export "caxton_abi_version") (result i32) (i32.const 1))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_init") (param i32 i32) (result i32)
    (local $p i32)
    (drop (memory.grow (i32.const 16383)))
    (loop $touch
      (i32.store (local.get $p) (i32.const 1))
      (local.set $p (i32.add (local.get $p) (i32.const 4096)))
      (br_if $touch (i32.lt_u (local.get $p) (i32.const 1073741000))))
    (i32.const 0))
  (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))
"""


def _pings_during(node: NodeProcess, busy: threading.Event) -> list[float]:
    latencies = []
    with caxton.connect(node.address, timeout=10) as other:
        while not busy.is_set():
            start = time.perf_counter()
            other.ping()
            latencies.append(time.perf_counter() - start)
            time.sleep(0.005)
    return latencies


@pytest.mark.timeout(90)
def test_a_spinning_init_under_validation_leaves_other_clients_served(
        node: NodeProcess, client: caxton.Client) -> None:
    done = threading.Event()
    outcome: dict[str, object] = {}

    def spawn_hostile() -> None:
        with caxton.connect(node.address, timeout=60) as hostile:
            try:
                hostile.spawn("spinner", SPIN_INIT,
                              limits={"fuel": 10**12, "deadline_ms": 3000})
            except caxton.CaxtonError as exc:
                outcome["error"] = exc
            finally:
                done.set()

    spawner = threading.Thread(target=spawn_hostile)
    spawner.start()
    latencies = _pings_during(node, done)
    spawner.join(30)
    assert isinstance(outcome.get("error"), caxton.ValidationFailed), outcome
    assert "timeout" in str(outcome["error"]) or "deadline" in str(outcome["error"])
    assert len(latencies) > 50  # the pings kept coming for the 3 s it spun
    assert max(latencies) < 1.0, max(latencies)
    # and the node still spawns and serves a good module afterwards
    client.spawn("echo", example_path("echo"))
    assert client.call("echo", b"hi") == b"hi"


@pytest.mark.timeout(90)
def test_a_module_filling_memory_at_init_does_not_grow_the_node(
        node: NodeProcess, client: caxton.Client) -> None:
    """The module may have 1 GiB (its limits say so): the validator and its agent
    process pay for it, the node does not."""
    before = psutil.Process(node.process.pid).memory_info().rss
    client.spawn("filler", FILL_INIT, limits={"memory_bytes": 2**30, "deadline_ms": 20000},
                 timeout=60)
    after = psutil.Process(node.process.pid).memory_info().rss
    client.remove("filler")
    assert after - before < 64 * 2**20, (before, after)
    client.spawn("echo", example_path("echo"))
    assert client.call("echo", b"hi") == b"hi"


@pytest.mark.timeout(90)
def test_a_validation_past_its_timeout_replaces_the_validator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import free_port

    node = NodeProcess(f"tcp://127.0.0.1:{free_port()}", tmp_path / "data", None,  # type: ignore[arg-type]
                       tmp_path / "node.log")
    from caxton.launch import NodeDidNotStart, start_node

    with open(node.log_path, "ab") as log:
        try:
            node.process = start_node(node.address, node.data_dir, output=log,
                                      extra=["--validation-seconds", "1"])
        except NodeDidNotStart as exc:
            raise AssertionError(node.log()) from exc
    try:
        with caxton.connect(node.address, timeout=30) as client:
            started = time.monotonic()
            with pytest.raises(caxton.ValidationFailed, match="did not finish within 1s"):
                client.spawn("spinner", SPIN_INIT, limits={"deadline_ms": 20000, "fuel": 10**12})
            assert time.monotonic() - started < 10
            client.spawn("echo", example_path("echo"))
            assert client.call("echo", b"hi") == b"hi"
    finally:
        node.terminate()
