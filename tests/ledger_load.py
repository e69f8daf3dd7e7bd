"""Load on ledger agents from a thread: sequence numbers in batches, the acknowledged ones kept.

The deployment, instance and canary tests all check "every acknowledged number
took effect exactly once"; they differ only in how a batch is made (its
numbers and its key), which each subclass says in ``next_batch``.
"""

from __future__ import annotations

import threading

import caxton
from chaos.ledger import encode_seq
from tests.helpers import wait_until


class LedgerLoad:
    """Sends batches until stopped. A batch refused whole (``MailboxFull``) or lost with
    the node (``NodeUnavailable``: it may have been committed before the node died) is
    not acknowledged; the latter is kept in ``unanswered``."""

    wait_seconds = 30.0

    def __init__(self, address: str, name: str) -> None:
        self.address, self.name = address, name
        self.acked: list[int] = []
        self.unanswered: list[int] = []
        self.errors: list[str] = []
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
        with caxton.connect(self.address, timeout=30) as client:
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
                    continue
                self.acked.extend(batch)

    def wait_for(self, count: int) -> None:
        wait_until(lambda: len(self.acked) >= count, timeout=self.wait_seconds,
                   what=f"{count} acked sends")
