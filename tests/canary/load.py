"""Load for canary tests: ledger sequence numbers, keyed and keyless, from a thread."""

from __future__ import annotations

import threading

import caxton
from chaos.ledger import LedgerState, encode_seq
from tests.helpers import wait_until

#: keys the load spreads its keyed batches over
KEYS = 64


class SplitLoad:
    """Batches of 20 sequence numbers, every other one under a key (``user-N``), so both
    halves of the split (by key and by percentage) carry traffic."""

    def __init__(self, address: str, name: str) -> None:
        self.address, self.name = address, name
        self.acked: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SplitLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        seq = 0
        turn = 0
        with caxton.connect(self.address, timeout=30) as client:
            while not self._stop.is_set():
                batch = list(range(seq, seq + 20))
                seq += 20
                turn += 1
                key = f"user-{turn % KEYS}" if turn % 2 else None
                try:
                    client.send_many(self.name, [encode_seq(n) for n in batch], key=key)
                except caxton.MailboxFull:
                    continue
                except caxton.CaxtonError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.acked.extend(batch)

    def wait_for(self, count: int) -> None:
        wait_until(lambda: len(self.acked) >= count, timeout=30, what=f"{count} acked sends")


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
