"""The example agents behave as their headers document."""

from __future__ import annotations

import struct

import msgpack
import pytest

from caxton.wasm import AgentInstance, RecordingImports
from tests.wasm.conftest import MakeInstance


def test_counter_counts_and_get_does_not(make: MakeInstance) -> None:
    counter = make("counter")
    assert counter.handle(b"get").reply == b"0"
    replies = [counter.handle(message).reply for message in (b"inc", b"", b"anything", b"gets")]
    assert replies == [b"1", b"2", b"3", b"4"]
    assert counter.handle(b"get").reply == b"4"
    big = make("counter")
    assert big.init(b"18446744073709551614").ok
    assert big.handle(b"x").reply == b"18446744073709551615"
    assert big.handle(b"x").reply == b"0"  # u64 wraps


def test_counter_snapshot_format(make: MakeInstance) -> None:
    counter = make("counter")
    counter.init(b"7")
    snap = counter.snapshot()
    assert snap is not None and snap.reply == struct.pack("<Q", 7)


class KV:
    def __init__(self, instance: AgentInstance) -> None:
        self.instance = instance

    def __call__(self, *request: object) -> tuple[str, object, str]:
        outcome = self.instance.handle(msgpack.packb(list(request), use_bin_type=True))
        value = msgpack.unpackb(outcome.reply) if outcome.reply else "<none>"
        return outcome.status, value, outcome.message


def test_kv_put_get_del(make: MakeInstance) -> None:
    kv = KV(make("kv"))
    assert kv("get", "a") == ("ok", None, "")
    assert kv("put", "a", 1) == ("ok", True, "")
    assert kv("put", b"bin-key", "text") == ("ok", True, "")
    assert kv("get", "a") == ("ok", 1, "")
    assert kv("get", b"bin-key") == ("ok", "text", "")
    assert kv("put", "a", -12345678901) == ("ok", True, "")
    assert kv("get", "a") == ("ok", -12345678901, "")
    for value in (None, True, False, 3.5, "x" * 40, b"\x00" * 70000, 2**64 - 1):
        assert kv("put", "v", value) == ("ok", True, "")
        assert kv("get", "v") == ("ok", value, "")
    assert kv("del", "a") == ("ok", True, "")
    assert kv("del", "a") == ("ok", False, "")
    assert kv("get", "a") == ("ok", None, "")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (["put", "k", [1, 2]], "kv: unsupported value type"),
        (["put", 5, "v"], "kv: key must be a str or bin"),
        (["nop", "k"], "kv: unknown command"),
        (["get"], "kv: malformed request"),
        (["get", "k", "extra"], "kv: malformed request"),
        (["put", "k"], "kv: malformed request"),
    ],
)
def test_kv_malformed_requests_are_errors(
    make: MakeInstance, request_: list[object], message: str
) -> None:
    kv = KV(make("kv"))
    kv("put", "k", "v")
    assert kv(*request_) == ("error", "<none>", message)
    assert kv("get", "k") == ("ok", "v", "")  # store unchanged, instance healthy


def test_kv_garbage_bytes_are_errors(make: MakeInstance) -> None:
    instance = make("kv")
    for garbage in (b"", b"\x93", b"\x93\xa3put\xa1", b"\x92\xa3get\xdb\xff\xff\xff\xff"):
        outcome = instance.handle(garbage)
        assert outcome.status == "error", garbage
    assert not instance.poisoned


def test_kv_snapshot_restore_round_trip(make: MakeInstance) -> None:
    kv = KV(make("kv"))
    for n in range(200):
        kv("put", f"key{n}", n)
    for n in range(0, 200, 2):
        kv("del", f"key{n}")
    kv("put", "key1", "overwritten")
    snap = kv.instance.snapshot()
    assert snap is not None and snap.ok
    fresh = KV(make("kv"))
    assert fresh.instance.restore(snap.reply).ok
    assert fresh("get", "key1") == ("ok", "overwritten", "")
    assert fresh("get", "key3") == ("ok", 3, "")
    assert fresh("get", "key4") == ("ok", None, "")
    # the snapshot is compacted: a second one of the restored store is identical
    again = fresh.instance.snapshot()
    assert again is not None and again.reply == snap.reply
    # and the original keeps working after compaction
    assert kv("get", "key199") == ("ok", 199, "")
    assert kv("put", "new", 1) == ("ok", True, "")


def test_kv_refuses_a_corrupt_state_and_keeps_its_own(make: MakeInstance) -> None:
    kv = KV(make("kv"))
    kv("put", "keep", "me")
    for corrupt in (b"\x01\x00\x00", struct.pack("<III", 100, 0, 1) + b"short"):
        outcome = kv.instance.restore(corrupt)
        assert outcome.status == "error"
    assert kv("get", "keep") == ("ok", "me", "")


def test_pingpong_between_two_agents(make: MakeInstance) -> None:
    agents: dict[str, AgentInstance] = {}
    queue: list[tuple[str, bytes, str]] = []
    logs: list[tuple[str, int, str]] = []

    class Router:
        def __init__(self, me: str) -> None:
            self.me = me

        def send(self, to: str, payload: bytes) -> int:
            if to not in agents:
                return -1
            queue.append((to, payload, self.me))
            return 0

        def log(self, level: int, message: str) -> None:
            logs.append((self.me, level, message))

    for name in ("alice", "bob"):
        agents[name] = make("pingpong", imports=Router(name))
    first = agents["alice"].handle(b"bob")
    assert first.ok and first.reply == b""  # from outside any agent
    delivered = []
    while queue:
        to, payload, sender = queue.pop(0)
        outcome = agents[to].handle(payload, sender=sender)
        assert outcome.ok
        delivered.append((to, payload, outcome.reply))
    assert delivered == [("bob", b"ping", b"alice"), ("alice", b"pong", b"bob")]
    assert logs == [("alice", 1, "pong from bob")]
    assert agents["alice"].handle(b"count").reply == b"1"
    assert agents["bob"].handle(b"count").reply == b"0"


def test_pingpong_reports_a_refused_send(make: MakeInstance) -> None:
    recording = RecordingImports(send_result=-1)
    outcome = make("pingpong", imports=recording).handle(b"nobody", sender="me")
    assert outcome.status == "error"
    assert outcome.message == "pingpong: send failed"
    assert outcome.reply == b"me"
