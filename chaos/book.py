"""What the node acknowledged: the half of the comparison the harness keeps itself.

Every workload message carries a sequence number unique to its agent. A number
is *attempted* once it is handed to the client, *acknowledged* once ``send``
returned its id or ``call`` returned its reply. Anything attempted but not
acknowledged (an error, a timeout, the node down) is *unacknowledged*: it may or
may not have taken effect, and the checker counts it as neither lost nor
duplicated. Sender and caller threads share an agent's book, hence the lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class AgentBook:
    """Sequence numbers of one agent: handed out in order, acknowledged as a bitmap."""

    name: str
    attempted: int = 0
    acked_map: bytearray = field(default_factory=bytearray, repr=False)
    acked_count: int = 0
    via_send: int = 0
    via_call: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: the first message of each error type, and where it came from: what a reader
    #: of the report needs to tell a refusal that is expected from one that is not
    error_samples: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, count: int) -> range:
        """Hand out the next ``count`` sequence numbers (they count as attempted)."""
        with self._lock:
            first = self.attempted
            self.attempted += count
            return range(first, first + count)

    def acknowledged(self, seqs: range | list[int], *, via: str) -> None:
        with self._lock:
            acked = self.acked_map
            for seq in seqs:
                index, bit = seq >> 3, 1 << (seq & 7)
                if index >= len(acked):
                    acked.extend(bytes(index + 1 - len(acked) + 4096))
                if not acked[index] & bit:
                    acked[index] |= bit
                    self.acked_count += 1
            if via == "call":
                self.via_call += len(seqs)
            else:
                self.via_send += len(seqs)

    def failed(self, count: int, error: str, detail: str | None = None) -> None:
        with self._lock:
            self.errors[error] += count
            if detail is not None:
                self.error_samples.setdefault(error, detail[:300])

    @property
    def unacknowledged(self) -> int:
        return self.attempted - self.acked_count

    @property
    def acked_bits(self) -> int:
        """The acknowledged numbers as one integer (bit n = number n), for the checker."""
        with self._lock:
            return int.from_bytes(self.acked_map, "little")


@dataclass
class AckBook:
    """The books of every workload agent, by name."""

    agents: dict[str, AgentBook] = field(default_factory=dict)

    def add(self, name: str) -> AgentBook:
        book = AgentBook(name)
        self.agents[name] = book
        return book

    def __getitem__(self, name: str) -> AgentBook:
        return self.agents[name]
