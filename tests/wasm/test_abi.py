"""Every export and import of the guest ABI, on the fast and the stock path."""

from __future__ import annotations

import struct
import time

import pytest

from caxton.wasm import (
    InstantiationFailed,
    Limits,
    RecordingImports,
    SecurityPolicy,
)
from caxton.wasm.abi import SEND_OVER_QUOTA, SEND_TOO_LARGE, SEND_UNKNOWN_AGENT
from caxton.wasm.host import CallbackImports
from tests.wasm.conftest import MakeInstance
from tests.wasm.wat import agent

# -- exports -------------------------------------------------------------------


def test_alloc_and_handle_echo(make: MakeInstance) -> None:
    echo = make("echo")
    for payload in (b"hello", b"x" * 100, bytes(range(256)) * 50, b"\x00"):
        outcome = echo.handle(payload)
        assert outcome.ok and outcome.status == "ok"
        assert outcome.reply == payload
        assert outcome.reason is None and outcome.message == ""
        assert outcome.fuel_consumed > 0
        assert outcome.elapsed_s > 0


def test_empty_payload_skips_alloc(make: MakeInstance) -> None:
    # caxton_alloc would return 0 for 0 bytes here: with an empty payload
    # the host must not call it (and must not treat 0 as out of memory).
    zero_alloc = make(
        """(module (memory (export "memory") 1)
          (func (export "caxton_alloc") (param i32) (result i32) (i32.const 0))
          (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))"""
    )
    outcome = zero_alloc.handle(b"")
    assert outcome.ok and outcome.reply == b""


def test_payload_larger_than_memory_grows_it(make: MakeInstance) -> None:
    echo = make("echo")
    before = echo.memory_bytes
    payload = bytes(range(256)) * 2048  # 512 KiB > the module's initial 64 KiB
    assert echo.handle(payload).reply == payload
    assert echo.memory_bytes > before
    assert echo.handle(b"after growth").reply == b"after growth"


def test_init_with_data_and_refusal(make: MakeInstance) -> None:
    counter = make("counter")
    assert counter.init(b"41").ok
    assert counter.handle(b"inc").reply == b"42"
    refused = make("counter").init(b"4x")
    assert refused.status == "error"
    assert refused.message == "caxton_init returned 1"


def test_init_is_ok_when_not_exported(make: MakeInstance) -> None:
    outcome = make("echo").init(b"anything")
    assert outcome.ok and outcome.fuel_consumed == 0


def test_snapshot_and_restore(make: MakeInstance) -> None:
    counter = make("counter")
    for _ in range(5):
        counter.handle(b"inc")
    assert counter.has_snapshot
    snap = counter.snapshot()
    assert snap is not None and snap.ok
    assert snap.reply == struct.pack("<Q", 5)
    fresh = make("counter")
    assert fresh.restore(snap.reply).ok
    assert fresh.handle(b"get").reply == b"5"
    refused = fresh.restore(b"short")
    assert refused.status == "error" and "refused" in refused.message
    assert not fresh.poisoned
    assert fresh.handle(b"get").reply == b"5"


def test_snapshot_absent(make: MakeInstance) -> None:
    echo = make("echo")
    assert not echo.has_snapshot
    assert echo.snapshot() is None
    outcome = echo.restore(b"state")
    assert outcome.status == "error" and "caxton_restore" in outcome.message


def test_health_ok_absent_and_unhealthy(make: MakeInstance) -> None:
    assert make("counter").health().ok
    assert make("echo").health().ok
    sick = make(
        agent("(i64.const 0)", extra='(func (export "caxton_health") (result i32) (i32.const 3))')
    )
    outcome = sick.health()
    assert outcome.status == "error"
    assert outcome.message == "caxton_health returned 3"
    assert not sick.poisoned


def test_abi_version_must_be_one(make: MakeInstance) -> None:
    make(
        agent(
            "(i64.const 0)", extra='(func (export "caxton_abi_version") (result i32) (i32.const 1))'
        )
    )
    with pytest.raises(InstantiationFailed) as info:
        make(
            agent(
                "(i64.const 0)",
                extra='(func (export "caxton_abi_version") (result i32) (i32.const 2))',
            )
        )
    assert info.value.outcome.reason == "link_error"
    assert "ABI version 2" in info.value.outcome.message


@pytest.mark.parametrize(
    ("wat", "message"),
    [
        (
            '(module (memory (export "memory") 1)'
            ' (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))',
            "missing required export caxton_alloc",
        ),
        (
            '(module (memory (export "memory") 1)'
            ' (func (export "caxton_alloc") (param i32) (result i32) (i32.const 0)))',
            "missing required export caxton_handle",
        ),
        (
            "(module (memory 1)"
            ' (func (export "caxton_alloc") (param i32) (result i32) (i32.const 0))'
            ' (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))',
            "missing export 'memory'",
        ),
        (
            '(module (memory (export "memory") 1)'
            ' (func (export "caxton_alloc") (param i32) (result i32) (i32.const 0))'
            ' (func (export "caxton_handle") (param i32 i32) (result i32) (i32.const 0)))',
            "caxton_handle has signature (i32, i32) -> i32, expected (i32, i32) -> i64",
        ),
        (
            agent(
                "(i64.const 0)",
                extra='(func (export "caxton_restore") (param i32) (result i32) (i32.const 0))',
            ),
            "caxton_restore has signature",
        ),
    ],
)
def test_abi_mismatches_refuse_instantiation(make: MakeInstance, wat: str, message: str) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make(wat)
    assert info.value.outcome.reason == "link_error"
    assert message in info.value.outcome.message


# -- imports -------------------------------------------------------------------


def test_send_routes_through_the_embedder(make: MakeInstance, recording: RecordingImports) -> None:
    ping = make("pingpong", imports=recording)
    outcome = ping.handle(b"bob", sender="alice")
    assert outcome.ok
    assert recording.sent == [("bob", b"ping")]
    assert outcome.reply == b"alice"  # pingpong replies with caxton.sender


@pytest.mark.parametrize("code", [SEND_UNKNOWN_AGENT, SEND_OVER_QUOTA, -4])
def test_send_error_codes_reach_the_guest(make: MakeInstance, code: int) -> None:
    ping = make("pingpong", imports=CallbackImports(send_fn=lambda to, payload: code))
    outcome = ping.handle(b"bob")
    assert outcome.status == "error"
    assert outcome.message == "pingpong: send failed"


SEND_N_BYTES = agent(
    """(i32.store (i32.const 64)
         (call $send (i32.const 16) (i32.const 3) (i32.const 2048) (i32.load (local.get $ptr))))
       (call $pack (i32.const 64) (i32.const 4))""",
    imports='(import "caxton" "send" (func $send (param i32 i32 i32 i32) (result i32)))',
    extra='(data (i32.const 16) "bob")',
)


def _code(reply: bytes) -> int:
    return int(struct.unpack("<i", reply)[0])


def test_send_over_the_size_limit_never_reaches_the_embedder(make: MakeInstance) -> None:
    recording = RecordingImports()
    instance = make(SEND_N_BYTES, imports=recording, limits=Limits(max_message_bytes=100))
    assert _code(instance.handle(struct.pack("<i", 100)).reply) == 0
    assert recording.sent == [("bob", bytes(100))]
    assert _code(instance.handle(struct.pack("<i", 101)).reply) == SEND_TOO_LARGE
    assert len(recording.sent) == 1


def test_send_to_a_name_that_is_not_utf8_is_unknown(make: MakeInstance) -> None:
    recording = RecordingImports()
    bad_name = SEND_N_BYTES.replace('"bob"', '"\\ff\\fe\\fd"')
    instance = make(bad_name, imports=recording)
    assert _code(instance.handle(struct.pack("<i", 4)).reply) == SEND_UNKNOWN_AGENT
    assert recording.sent == []


def test_log_levels_and_text(make: MakeInstance, recording: RecordingImports) -> None:
    logger = make(
        agent(
            """(call $log (i32.const 0) (local.get $ptr) (local.get $len))
               (call $log (i32.const 2) (local.get $ptr) (local.get $len))
               (call $log (i32.const 9) (local.get $ptr) (local.get $len))
               (call $log (i32.const -5) (local.get $ptr) (local.get $len))
               (i64.const 0)""",
            imports='(import "caxton" "log" (func $log (param i32 i32 i32)))',
        ),
        imports=recording,
    )
    assert logger.handle("héllo".encode()).ok
    assert recording.logs == [(0, "héllo"), (2, "héllo"), (3, "héllo"), (0, "héllo")]
    assert logger.handle(b"\xff bad utf8").ok
    assert recording.logs[-1] == (0, "\ufffd bad utf8")


def test_now_ms_is_wall_clock(make: MakeInstance) -> None:
    clock = make(
        agent(
            """(i64.store (i32.const 64) (call $now))
               (call $pack (i32.const 64) (i32.const 8))""",
            imports='(import "caxton" "now_ms" (func $now (result i64)))',
        )
    )
    before = int(time.time() * 1000)
    (value,) = struct.unpack("<q", clock.handle(b"t").reply)
    after = int(time.time() * 1000)
    assert before - 1 <= value <= after + 1


ERROR_THEN_REPLY = agent(
    """(call $error (i32.const 16) (i32.const 13))
       (call $pack (local.get $ptr) (local.get $len))""",
    imports='(import "caxton" "error" (func $error (param i32 i32)))',
    extra='(data (i32.const 16) "bad input: no")',
)


def test_error_marks_the_message_and_keeps_the_reply(make: MakeInstance) -> None:
    instance = make(ERROR_THEN_REPLY)
    outcome = instance.handle(b"reply anyway")
    assert outcome.status == "error" and not outcome.ok
    assert outcome.reason is None
    assert outcome.message == "bad input: no"
    assert outcome.reply == b"reply anyway"
    assert not instance.poisoned
    # the error belongs to that message only
    kv = make("kv")
    assert kv.handle(b"\x91\xa3get").status == "error"
    assert kv.handle(b"\x92\xa3get\xa1k").status == "ok"


SENDER_WITH_CAP = agent(
    """(call $pack (i32.const 64)
         (call $sender (i32.const 64) (i32.load8_u (local.get $ptr))))""",
    imports='(import "caxton" "sender" (func $sender (param i32 i32) (result i32)))',
)


def test_sender_copies_up_to_cap_and_returns_full_length(make: MakeInstance) -> None:
    instance = make(SENDER_WITH_CAP)
    # reply = 64 .. 64+full_length; bytes past cap are whatever was there (zeros)
    outcome = instance.handle(bytes([3]), sender="alice")
    assert outcome.reply == b"ali\x00\x00"
    assert instance.handle(bytes([200]), sender="alice").reply == b"alice"
    assert instance.handle(bytes([200])).reply == b""  # from outside any agent


def test_imports_outside_the_policy_are_not_linked(make: MakeInstance) -> None:
    strict = SecurityPolicy.preset("strict")
    with pytest.raises(InstantiationFailed) as info:
        make("pingpong", policy=strict)
    outcome = info.value.outcome
    assert outcome.reason == "link_error"
    assert "caxton.send is not allowed by security policy 'strict'" in outcome.message
    assert make("counter", policy=strict).handle(b"x").reply == b"1"


def test_unknown_caxton_import_is_refused(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make(agent("(i64.const 0)", imports='(import "caxton" "spawn" (func (param i32)))'))
    assert "caxton.spawn is not part of the Caxton ABI" in info.value.outcome.message


def test_import_with_the_wrong_signature_is_refused(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make(agent("(i64.const 0)", imports='(import "caxton" "log" (func (param i32)))'))
    assert info.value.outcome.reason == "link_error"
    assert "caxton" in info.value.outcome.message and "log" in info.value.outcome.message


def test_wrong_argument_types_are_clear_errors(make: MakeInstance) -> None:
    echo = make("echo")
    assert echo.handle(bytearray(b"ba")).reply == b"ba"
    assert echo.handle(memoryview(b"mv")).reply == b"mv"
    with pytest.raises(TypeError, match="payload must be bytes, not str"):
        echo.handle("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="init data must be bytes"):
        echo.init("text")  # type: ignore[arg-type]
    assert not echo.poisoned
    from caxton.wasm import AgentInstance, NullImports

    with pytest.raises(TypeError, match="needs a CompiledModule"):
        AgentInstance("echo.wat", Limits(), NullImports())  # type: ignore[arg-type]
