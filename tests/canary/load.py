"""Load for canary tests: ledger sequence numbers, keyed and keyless, from a thread."""

from __future__ import annotations

import caxton
from chaos.ledger import LedgerState
from tests.helpers import wait_until
from tests.ledger_load import LedgerLoad

#: keys the load spreads its keyed batches over
KEYS = 64


class SplitLoad(LedgerLoad):
    """Batches of 20 sequence numbers, every other one under a key (``user-N``), so both
    halves of the split (by key and by percentage) carry traffic."""

    def __init__(self, address: str, name: str) -> None:
        super().__init__(address, name)
        self._seq = self._turn = 0

    def next_batch(self) -> tuple[list[int], str | None]:
        batch = list(range(self._seq, self._seq + 20))
        self._seq += 20
        self._turn += 1
        return batch, f"user-{self._turn % KEYS}" if self._turn % 2 else None


def check_ledger(client: caxton.Client, name: str, acked: list[int],
                 instances: int = 1) -> None:
    """Every acknowledged number took effect exactly once in the version serving now
    (over all ``instances``: each has a ledger of its own, and no number is in two)."""
    def dump() -> list[LedgerState]:
        return [LedgerState.parse(client.call(name, b"ledger:dump", timeout=30, instance=i))
                for i in range(instances)]

    def settled() -> list[LedgerState] | None:
        states = dump()
        return states if sum(s.applied for s in states) >= len(acked) else None

    states = wait_until(settled, timeout=60, what="every acknowledged send handled")
    assert states is not None
    seen = 0
    for state in states:
        assert seen & state.seen == 0, "a number took effect in two instances"
        seen |= state.seen
        assert state.duplicates == 0
    bits = bin(seen)[:1:-1]  # bit n is bits[n]
    lost = [n for n in acked if n >= len(bits) or bits[n] != "1"]
    assert lost == [], f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    assert sum(s.applied for s in states) == len(acked)
