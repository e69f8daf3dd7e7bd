"""The ledger agent in a real wasmtime instance: what it records, dumps and restores."""

from __future__ import annotations

import pytest

from caxton.wasm import AgentInstance, Limits, NullImports, load_module, validate
from chaos import ledger
from chaos.ledger import CAPACITY, LEDGER_PATH, LedgerState, encode_seq


@pytest.fixture(scope="module")
def compiled():
    return load_module(LEDGER_PATH)


def _instance(compiled) -> AgentInstance:
    instance = AgentInstance(compiled, Limits(), NullImports())
    assert instance.init(b"").ok
    return instance


def _dump(instance: AgentInstance) -> LedgerState:
    outcome = instance.handle(ledger.DUMP)
    assert outcome.ok, outcome
    return LedgerState.parse(outcome.reply)


@pytest.mark.parametrize("policy", ["strict", "default"])
def test_ledger_passes_validation_under_strict_and_default_policies(policy):
    report = validate(LEDGER_PATH.read_bytes(), policy=policy)
    assert report.passed, report.to_dict()


def test_sequence_numbers_set_bits_and_repeats_count_as_duplicates(compiled):
    instance = _instance(compiled)
    replies = [instance.handle(encode_seq(n)).reply for n in (0, 9, 9, 3, 0, 17)]
    assert replies == [ledger.NEW, ledger.NEW, ledger.DUPLICATE, ledger.NEW, ledger.DUPLICATE,
                       ledger.NEW]
    state = _dump(instance)
    assert state.seen == (1 << 0) | (1 << 3) | (1 << 9) | (1 << 17)
    assert (state.bits, state.applied, state.duplicates) == (18, 4, 2)
    assert (state.rejected, state.other) == (0, 0)


def test_commands_have_no_effect_and_out_of_range_numbers_are_rejected(compiled):
    instance = _instance(compiled)
    instance.handle(encode_seq(5))
    assert instance.handle(ledger.PING).reply == ledger.PONG
    assert instance.handle(ledger.SLOW).reply == b"slow"
    assert instance.handle(encode_seq(CAPACITY)).reply == b"!"
    assert instance.handle(b"something else").reply == b"?"
    state = _dump(instance)
    assert (state.applied, state.duplicates, state.rejected, state.other) == (1, 0, 1, 1)
    assert state.seen == 1 << 5


def test_snapshot_restores_into_a_fresh_instance_exactly(compiled):
    first = _instance(compiled)
    for n in (1, 2, 1000, 70_000):
        first.handle(encode_seq(n))
    first.handle(encode_seq(2))
    snapshot = first.snapshot()
    assert snapshot is not None and snapshot.ok
    second = AgentInstance(compiled, Limits(), NullImports())
    assert second.restore(snapshot.reply).ok
    assert _dump(second) == _dump(first)
    # the restored ledger goes on counting from the restored state
    assert second.handle(encode_seq(1000)).reply == ledger.DUPLICATE
    assert second.handle(encode_seq(3)).reply == ledger.NEW


@pytest.mark.parametrize("state", [
    b"",
    b"XXXX" + bytes(28),
    b"LDG1" + (9).to_bytes(4, "little") + bytes(24) + b"\x01",  # 9 bits need 2 bytes
    b"LDG1" + (CAPACITY + 8).to_bytes(4, "little") + bytes(24) + bytes((CAPACITY + 8) // 8),
])
def test_restore_refuses_states_that_are_not_its_own(compiled, state):
    instance = AgentInstance(compiled, Limits(), NullImports())
    outcome = instance.restore(state)
    assert outcome.status == "error"
    assert "refused" in outcome.message


@pytest.mark.parametrize(("payload", "reasons"), [
    (ledger.POISON, ("trap",)),
    (ledger.FUEL, ("out_of_fuel", "timeout")),
    (ledger.MEMORY, ("memory_limit",)),
])
def test_hostile_commands_fail_the_instance_with_their_reason(compiled, payload, reasons):
    instance = _instance(compiled)
    outcome = instance.handle(payload)
    assert outcome.status == "failed"
    assert outcome.reason in reasons


def test_parse_refuses_malformed_dumps():
    with pytest.raises(ValueError, match="shorter"):
        LedgerState.parse(b"LDG1")
    with pytest.raises(ValueError, match="magic"):
        LedgerState.parse(b"NOPE" + bytes(28))
    with pytest.raises(ValueError, match="bitmap bytes"):
        LedgerState.parse(b"LDG1" + (17).to_bytes(4, "little") + bytes(24) + b"\x00")
