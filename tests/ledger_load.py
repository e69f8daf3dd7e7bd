"""Load on ledger agents from a thread: sequence numbers in batches, the acknowledged ones kept.

The deployment, instance and canary tests all check "every acknowledged number
took effect exactly once"; they differ only in how a batch is made (its
numbers and its key), which each subclass says in ``next_batch``.
"""

from __future__ import annotations

import threading

import caxton
from chaos.ledger import LedgerState, encode_seq
from tests.helpers import wait_until


class LedgerLoad:
    """Sends batches until stopped. A batch refused whole (``MailboxFull``) or lost with
    the node (``NodeUnavailable``: it may have been committed before the node died) is
    not acknowledged; the latter is kept in ``unanswered``."""

    wait_seconds = 30.0
    #: how long a batch waits for its answer: one sent to a node that is then killed
    #: is never answered, and counts as unanswered after this
    request_timeout = 5.0

    def __init__(self, address: str, name: str) -> None:
        self.address, self.name = address, name
        self.acked: list[int] = []
        self.unanswered: list[int] = []
        self.errors: list[str] = []
        #: numbers of the batches that got an error: never acknowledged, and (where
        #: the error came from a node that went away) possibly applied once
        self.failed: list[int] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def next_batch(self) -> tuple[list[int], str | None]:
        raise NotImplementedError

    def __enter__(self) -> LedgerLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        with caxton.connect(self.address, timeout=self.request_timeout) as client:
            while not self._stop.is_set():
                batch, key = self.next_batch()
                try:
                    client.send_many(self.name, [encode_seq(n) for n in batch], key=key)
                except caxton.NodeUnavailable:
                    self.unanswered.extend(batch)
                    continue
                except caxton.MailboxFull:
                    self.refused += 1
                    continue
                except caxton.CaxtonError as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self.failed.extend(batch)
                    continue
                self.acked.extend(batch)

    def wait_for(self, count: int) -> None:
        wait_until(lambda: len(self.acked) >= count, timeout=self.wait_seconds,
                   what=f"{count} acked sends")


class SequentialLoad(LedgerLoad):
    """Batches of 50 consecutive numbers, without a key."""

    def __init__(self, address: str, name: str) -> None:
        super().__init__(address, name)
        self._seq = 0

    def next_batch(self) -> tuple[list[int], str | None]:
        batch = list(range(self._seq, self._seq + 50))
        self._seq += 50
        return batch, None


def dump_ledger(client: caxton.Client, name: str) -> LedgerState:
    return LedgerState.parse(client.call(name, b"ledger:dump", timeout=30))


def check_exactly_once(client: caxton.Client, name: str, acked: list[int],
                       unanswered: list[int] | None = None) -> None:
    """Every acknowledged number took effect once; nothing took effect twice."""
    state = wait_until(lambda: (s := dump_ledger(client, name)).applied >= len(acked) and s,
                       timeout=60, what="every acknowledged send handled")
    assert isinstance(state, LedgerState)
    seen = state.seen
    lost = [n for n in acked if not (seen >> n) & 1]
    assert lost == [], f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    assert state.duplicates == 0
    # sends refused (mailbox full) were never applied; a batch the node died answering
    # may have been committed before it died, so it may be applied (once)
    maybe = set(unanswered or [])
    assert len(acked) <= state.applied <= len(acked) + len(maybe)
    known = set(acked) | maybe
    stray = [n for n in range(state.bits) if (seen >> n) & 1 and n not in known]
    assert stray == [], f"effects of messages never sent: {stray[:5]}"


#: keys a keyed load spreads its numbers over (number mod KEYS = the key's index)
KEYS = 24


def key_of(seq: int) -> str:
    return f"user-{seq % KEYS}"


def dump_instances(client: caxton.Client, name: str) -> list[LedgerState]:
    count = len(client.status(name).instances)
    return [LedgerState.parse(client.call(name, b"ledger:dump", timeout=30, instance=i))
            for i in range(count)]


def check_instances(client: caxton.Client, name: str, acked: list[int], *, sticky: bool) -> None:
    """Every acknowledged number took effect once, in one instance; with ``sticky``
    every number of a key in the same instance."""
    wait_until(lambda: sum(s.applied for s in dump_instances(client, name)) >= len(acked),
               timeout=60, what="every acknowledged send handled")
    dumps = dump_instances(client, name)
    seen = [s.seen for s in dumps]
    lost = [n for n in acked if not any((bits >> n) & 1 for bits in seen)]
    assert lost == [], f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"
    assert sum(s.duplicates for s in dumps) == 0
    assert sum(s.applied for s in dumps) == len(acked)
    twice = [n for n in acked if sum(int((bits >> n) & 1) for bits in seen) > 1]
    assert twice == [], f"{len(twice)} numbers took effect in two instances"
    if sticky:
        owners: dict[str, set[int]] = {}
        for n in acked:
            owners.setdefault(key_of(n), set()).update(
                i for i, bits in enumerate(seen) if (bits >> n) & 1)
        split = {k: v for k, v in owners.items() if len(v) > 1}
        assert split == {}, f"keys whose state is split across instances: {split}"
