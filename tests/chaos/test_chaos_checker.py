"""The checker's arithmetic, on real ledger states produced by the ledger agent.

The end-to-end runs prove the checker on a live node; these pin down each
definition (lost, duplicated, phantom, unacknowledged) on states whose content
is known exactly.
"""

from __future__ import annotations

import pytest

from caxton.wasm import AgentInstance, Limits, NullImports, load_module
from chaos import AgentBook, LedgerState, check_counter, check_ledger, encode_seq, percentile
from chaos.ledger import DUMP, LEDGER_PATH


@pytest.fixture(scope="module")
def compiled():
    return load_module(LEDGER_PATH)


def _ledger_state(compiled, seqs: list[int]) -> LedgerState:
    instance = AgentInstance(compiled, Limits(), NullImports())
    assert instance.init(b"").ok
    for seq in seqs:
        assert instance.handle(encode_seq(seq)).ok
    return LedgerState.parse(instance.handle(DUMP).reply)


def _book(acked: list[int], attempted: int) -> AgentBook:
    book = AgentBook("ledger-0")
    book.reserve(attempted)
    book.acknowledged(acked, via="send")
    return book


def test_everything_acknowledged_and_applied_once_is_clean(compiled):
    book = _book(list(range(100)), 100)
    state = _ledger_state(compiled, list(range(100)))
    result = check_ledger(book.acked_bits, book.attempted, state)
    assert (result["lost"], result["duplicated"], result["phantom"]) == (0, 0, 0)
    assert result["applied"] == 100


def test_an_acknowledged_message_missing_from_the_ledger_is_lost(compiled):
    book = _book(list(range(50)), 50)
    state = _ledger_state(compiled, [n for n in range(50) if n not in (7, 31)])
    result = check_ledger(book.acked_bits, book.attempted, state)
    assert result["lost"] == 2
    assert result["lost_sample"] == [7, 31]


def test_a_message_applied_twice_is_a_duplicated_effect(compiled):
    book = _book(list(range(10)), 10)
    state = _ledger_state(compiled, [*range(10), 4, 4])
    result = check_ledger(book.acked_bits, book.attempted, state)
    assert (result["lost"], result["duplicated"]) == (0, 2)


def test_unacknowledged_messages_are_neither_lost_nor_duplicated(compiled):
    # 0-19 attempted; 10-14 never acknowledged; of those only 12 took effect
    acked = [n for n in range(20) if not 10 <= n < 15]
    book = _book(acked, 20)
    state = _ledger_state(compiled, [*acked, 12])
    result = check_ledger(book.acked_bits, book.attempted, state)
    assert (result["lost"], result["duplicated"]) == (0, 0)
    assert result["unacknowledged_applied"] == 1
    assert book.unacknowledged == 5


def test_an_effect_of_a_number_never_sent_is_a_phantom(compiled):
    book = _book(list(range(5)), 5)
    state = _ledger_state(compiled, [0, 1, 2, 3, 4, 9])
    result = check_ledger(book.acked_bits, book.attempted, state)
    assert (result["phantom"], result["phantom_sample"]) == (1, [9])


@pytest.mark.parametrize(("acked", "unacked", "value", "lost", "duplicated"), [
    (100, 0, 100, 0, 0),
    (100, 10, 105, 0, 0),   # five of the unacknowledged took effect: allowed
    (100, 10, 97, 3, 0),
    (100, 10, 112, 0, 2),
])
def test_a_counter_bounds_lost_and_duplicated(acked, unacked, value, lost, duplicated):
    result = check_counter(acked, unacked, value)
    assert (result["lost"], result["duplicated"]) == (lost, duplicated)


def test_percentiles_interpolate_between_ranks():
    values = [0.1 * n for n in range(1, 11)]
    assert percentile(values, 50) == pytest.approx(0.55)
    assert percentile(values, 95) == pytest.approx(0.955)
    assert percentile(values, 100) == pytest.approx(1.0)
    assert percentile([3.0], 95) == 3.0
