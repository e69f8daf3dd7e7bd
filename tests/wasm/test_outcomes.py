"""Every call ends in exactly one classified outcome; failures poison the instance."""

from __future__ import annotations

import pytest

from caxton.wasm import (
    INSTANTIATION_REASONS,
    InstancePoisoned,
    InstantiationFailed,
    Limits,
    MessageTooLarge,
    Outcome,
)
from caxton.wasm.host import CallbackImports
from tests.wasm.conftest import QUICK, MakeInstance
from tests.wasm.wat import agent


def _assert_failed(outcome: Outcome, reason: str) -> None:
    assert outcome.status == "failed", outcome
    assert not outcome.ok
    assert outcome.reason == reason, outcome
    assert outcome.reason in INSTANTIATION_REASONS
    assert outcome.reply == b""
    assert outcome.message


def test_infinite_loop_runs_out_of_fuel(make: MakeInstance) -> None:
    instance = make("hostile/infinite_loop")
    outcome = instance.handle(b"go")
    _assert_failed(outcome, "out_of_fuel")
    assert outcome.fuel_consumed == QUICK.fuel
    assert "fuel budget of 5000000 exhausted" in outcome.message


def test_fuel_bomb_runs_out_of_fuel(make: MakeInstance) -> None:
    _assert_failed(make("hostile/fuel_bomb").handle(b"go"), "out_of_fuel")


@pytest.mark.timeout(30)
def test_deadline_interrupts_a_loop_with_plenty_of_fuel(make: MakeInstance) -> None:
    limits = Limits(fuel=10**15, deadline_ms=100)
    outcome = make("hostile/infinite_loop", limits=limits).handle(b"go")
    _assert_failed(outcome, "timeout")
    assert "deadline of 100 ms exceeded" in outcome.message
    # interrupted after the deadline, not long after (loaded CI machines get slack)
    assert 0.1 <= outcome.elapsed_s < 5.0


@pytest.mark.timeout(60)
def test_deadline_applies_to_every_message_not_the_instance(make: MakeInstance) -> None:
    # Each message gets the full deadline anew: ten messages of ~30 ms each
    # all succeed under a 200 ms deadline although together they take longer.
    spin = agent(
        """(local.set $n (i64.const 0))
           (loop $spin
             (local.set $n (i64.add (local.get $n) (i64.const 1)))
             (br_if $spin (i64.lt_u (local.get $n) (i64.load (local.get $ptr)))))
           (i64.const 0)""",
    ).replace("(param $len i32) (result i64)", "(param $len i32) (result i64) (local $n i64)")
    instance = make(spin, limits=Limits(fuel=10**15, deadline_ms=200))
    iterations = 1
    while True:  # calibrate: grow the loop until one message takes ~30 ms
        outcome = instance.handle(iterations.to_bytes(8, "little"))
        assert outcome.ok, outcome
        if outcome.elapsed_s > 0.03:
            break
        iterations *= 2
    total = 0.0
    for _ in range(10):
        outcome = instance.handle(iterations.to_bytes(8, "little"))
        assert outcome.ok, outcome
        total += outcome.elapsed_s
    assert total > 0.2


def test_fuel_is_refilled_before_each_message(make: MakeInstance) -> None:
    counter = make("counter", limits=Limits(fuel=200))
    fuel = [counter.handle(b"inc").fuel_consumed for _ in range(20)]
    assert all(0 < f <= 200 for f in fuel)
    assert sum(fuel) > 200  # more than one budget's worth in total
    assert counter.fuel_consumed_total >= sum(fuel)


def test_memory_bomb_is_stopped_at_the_limit(make: MakeInstance) -> None:
    limits = Limits(memory_bytes=4 * 2**20, fuel=5_000_000)
    instance = make("hostile/memory_bomb", limits=limits)
    outcome = instance.handle(b"go")
    _assert_failed(outcome, "memory_limit")
    assert instance.memory_bytes <= limits.memory_bytes
    assert instance.memory_bytes > limits.memory_bytes - 65536


def test_memory_grow_past_the_limit_returns_minus_one(make: MakeInstance) -> None:
    grower = make(
        agent(
            """(i32.store (i32.const 64) (memory.grow (i32.load (local.get $ptr))))
               (call $pack (i32.const 64) (i32.const 4))"""
        ),
        limits=Limits(memory_bytes=4 * 65536),
    )
    assert grower.handle((2).to_bytes(4, "little")).reply == (1).to_bytes(4, "little")
    assert grower.handle((2).to_bytes(4, "little")).reply == (-1).to_bytes(4, "little", signed=True)
    assert grower.handle((1).to_bytes(4, "little")).reply == (3).to_bytes(4, "little")
    assert not grower.poisoned


def test_declared_memory_over_the_limit_refuses_instantiation(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make("hostile/too_many_pages")
    _assert_failed(info.value.outcome, "memory_limit")
    assert "5000 pages" in info.value.outcome.message


def test_table_over_the_limit_refuses_instantiation(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make(
            agent("(i64.const 0)", extra="(table 5000 funcref)"), limits=Limits(table_elements=100)
        )
    _assert_failed(info.value.outcome, "memory_limit")
    assert "table" in info.value.outcome.message


def test_alloc_out_of_memory_is_a_memory_limit(make: MakeInstance) -> None:
    echo = make("echo", limits=Limits(memory_bytes=2 * 65536))
    outcome = echo.handle(b"x" * 200_000)
    _assert_failed(outcome, "memory_limit")
    assert "caxton_alloc returned 0" in outcome.message


def test_alloc_outside_memory_is_a_bad_reply(make: MakeInstance) -> None:
    liar = make(
        """(module (memory (export "memory") 1)
          (func (export "caxton_alloc") (param i32) (result i32) (i32.const 65530))
          (func (export "caxton_handle") (param i32 i32) (result i64) (i64.const 0)))"""
    )
    outcome = liar.handle(b"0123456789")
    _assert_failed(outcome, "bad_reply")
    assert "outside linear memory" in outcome.message


def test_deep_recursion_overflows_the_stack(make: MakeInstance) -> None:
    _assert_failed(make("hostile/deep_recursion").handle(b"go"), "stack_overflow")


def test_trap_on_a_given_message(make: MakeInstance) -> None:
    instance = make("hostile/trap_on_message")
    assert instance.handle(b"fine").reply == b"fine"
    outcome = instance.handle(b"poison")
    _assert_failed(outcome, "trap")
    assert "unreachable" in outcome.message
    assert "\n" not in outcome.message


def test_out_of_bounds_access_is_a_trap(make: MakeInstance) -> None:
    outcome = make(agent("(drop (i32.load (i32.const 70000))) (i64.const 0)")).handle(b"x")
    _assert_failed(outcome, "trap")
    assert "out of bounds memory access" in outcome.message


def test_reply_outside_memory_is_a_bad_reply(make: MakeInstance) -> None:
    instance = make("hostile/bad_reply")
    assert instance.handle(b"echo me").reply == b"echo me"
    outcome = instance.handle(b"oob")
    _assert_failed(outcome, "bad_reply")
    assert "outside linear memory" in outcome.message


def test_reply_over_the_size_limit_is_a_bad_reply(make: MakeInstance) -> None:
    outcome = make("hostile/bad_reply").handle(b"huge")
    _assert_failed(outcome, "bad_reply")
    assert "exceed the limit of 1048576 bytes" in outcome.message


def test_a_failed_instance_is_poisoned(make: MakeInstance) -> None:
    instance = make("hostile/trap_on_message")
    assert not instance.poisoned
    instance.handle(b"poison")
    assert instance.poisoned
    for call in (
        lambda: instance.handle(b"fine"),
        lambda: instance.init(b""),
        lambda: instance.snapshot(),
        lambda: instance.restore(b""),
        lambda: instance.health(),
    ):
        with pytest.raises(InstancePoisoned):
            call()


def test_message_too_large_never_reaches_the_guest(make: MakeInstance) -> None:
    counter = make("counter", limits=Limits(max_message_bytes=8))
    with pytest.raises(MessageTooLarge, match="9 bytes exceeds the limit of 8"):
        counter.handle(b"123456789")
    assert not counter.poisoned
    assert counter.handle(b"get").reply == b"0"  # the refused message did not count
    with pytest.raises(MessageTooLarge):
        counter.init(b"123456789")


def test_start_function_loop_is_contained(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make("hostile/start_loop")
    _assert_failed(info.value.outcome, "out_of_fuel")


@pytest.mark.timeout(30)
def test_start_function_loop_hits_the_deadline_with_plenty_of_fuel(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make("hostile/start_loop", limits=Limits(fuel=10**15, deadline_ms=100))
    _assert_failed(info.value.outcome, "timeout")


def test_forbidden_import_refuses_instantiation(make: MakeInstance) -> None:
    with pytest.raises(InstantiationFailed) as info:
        make("hostile/forbidden_import")
    _assert_failed(info.value.outcome, "link_error")
    assert "env.open_socket" in info.value.outcome.message


def test_host_callback_failure_traps_the_call(make: MakeInstance) -> None:
    def broken_send(to: str, payload: bytes) -> int:
        raise RuntimeError("router is down")

    instance = make("pingpong", imports=CallbackImports(send_fn=broken_send))
    outcome = instance.handle(b"bob")
    _assert_failed(outcome, "trap")
    assert "caxton.send failed" in outcome.message and "router is down" in outcome.message


def test_host_callback_returning_nonsense_traps_the_call(make: MakeInstance) -> None:
    instance = make("pingpong", imports=CallbackImports(send_fn=lambda to, p: "yes"))  # type: ignore[arg-type,return-value]
    _assert_failed(instance.handle(b"bob"), "trap")


def test_guest_passing_a_bad_pointer_to_the_host_traps(make: MakeInstance) -> None:
    logger = make(
        agent(
            "(call $log (i32.const 1) (i32.const 65000) (i32.const 1000)) (i64.const 0)",
            imports='(import "caxton" "log" (func $log (param i32 i32 i32)))',
        )
    )
    outcome = logger.handle(b"x")
    _assert_failed(outcome, "trap")
    assert "caxton.log" in outcome.message and "outside linear memory" in outcome.message


def test_keyboard_interrupt_in_a_callback_propagates(make: MakeInstance) -> None:
    def interrupted(level: int, message: str) -> None:
        raise KeyboardInterrupt

    logger = make(
        agent(
            "(call $log (i32.const 1) (local.get $ptr) (local.get $len)) (i64.const 0)",
            imports='(import "caxton" "log" (func $log (param i32 i32 i32)))',
        ),
        imports=CallbackImports(log_fn=interrupted),
    )
    with pytest.raises(KeyboardInterrupt):
        logger.handle(b"x")
    assert not logger.in_call  # or the epoch ticker would never park again


def test_outcome_round_trips_through_a_dict() -> None:
    outcome = Outcome("error", None, "nope", b"\x00\x01", 12, 0.5)
    assert Outcome.from_dict(outcome.to_dict()) == outcome
    with pytest.raises(ValueError, match="status"):
        Outcome.from_dict({"status": "weird"})
