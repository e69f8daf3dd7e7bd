"""Hostile guests cannot make the node carry what they emit: logs and sends have quotas."""

from __future__ import annotations

import struct

import psutil
import pytest

import caxton
from tests.conftest import NodeProcess
from tests.helpers import wait_until

# every message logs 100,000 lines of 180 bytes
LOG_BOMB = b"""
(module
  (import "caxton" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "caxton_abi_version") (result i32) (i32.const 1))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (local $i i32)
    (loop $again
      (call $log (i32.const 2) (i32.const 2048) (i32.const 180))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 100000))))
    (i64.const 0)))
"""

# every message sends 200 x 1 MB to an agent nobody runs; replies with how many
# sends came back SEND_OVER_QUOTA (-3), as 4 bytes little-endian
SEND_BOMB = b"""
(module
  (import "caxton" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 16) "nobody")
  (func (export "caxton_abi_version") (result i32) (i32.const 1))
  (func (export "caxton_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "caxton_init") (param i32 i32) (result i32) (i32.const 0))
  (func (export "caxton_handle") (param i32 i32) (result i64)
    (local $i i32)
    (local $over i32)
    (loop $again
      (if (i32.eq (call $send (i32.const 16) (i32.const 6) (i32.const 65536) (i32.const 1048576))
                  (i32.const -3))
        (then (local.set $over (i32.add (local.get $over) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 200))))
    (i32.store (i32.const 32) (local.get $over))
    (i64.or (i64.shl (i64.const 32) (i64.const 32)) (i64.const 4))))
"""


@pytest.mark.timeout(90)
def test_a_log_bomb_is_held_to_its_quota_and_counted(node: NodeProcess,
                                                    client: caxton.Client) -> None:
    client.spawn("logger", LOG_BOMB, limits={"fuel": 10**9, "deadline_ms": 10_000})
    size_before = len(node.log())
    for _ in range(3):
        client.call("logger", b"go", timeout=30)
    status = client.status("logger")
    assert status.logs_dropped >= 3 * (100_000 - 100)
    assert status.violations >= status.logs_dropped
    # at most 100 lines a message reach the node's log, not 300,000
    wait_until(lambda: node.log().count("agent logger:") >= 300, what="the kept lines")
    assert len(node.log()) - size_before < 300 * 400


@pytest.mark.timeout(90)
def test_a_send_bomb_is_refused_over_quota_and_the_node_stays_small(
        node: NodeProcess, client: caxton.Client) -> None:
    client.spawn("sender", SEND_BOMB,
                 limits={"memory_bytes": 32 * 2**20, "max_message_bytes": 2 * 2**20})
    rss_before = psutil.Process(node.process.pid).memory_info().rss
    reply = client.call("sender", b"go", timeout=30)
    (over,) = struct.unpack("<i", reply)
    assert over == 200 - 4  # 4 MiB a message: four sends of 1 MiB, the rest refused
    status = client.status("sender")
    assert status.sends_over_quota == 196
    letters = client.dead_letters("sender")
    assert len(letters) == 4 and all("unknown agent" in d.reasons[0] for d in letters)
    rss_after = psutil.Process(node.process.pid).memory_info().rss
    assert rss_after - rss_before < 64 * 2**20, (rss_before, rss_after)
