"""The workload: ledger (and counter) agents fed numbered messages at a fixed rate.

Each workload agent gets a sender thread that sends its share of the rate in
pipelined ``send_many`` windows, and one caller thread spreads a share of the
messages over the agents as ``call`` s, so both ways of delivering are under
test. Every thread has its own client (clients are not thread-safe) and a
short timeout, so a node outage costs a window, not the run.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import caxton
from caxton.wasm.examples import example_path
from chaos.book import AckBook, AgentBook
from chaos.errors import HarnessError, UsageError
from chaos.ledger import LEDGER_PATH, encode_seq

#: Why so high: a kill storm restarts each agent several times a second, far
#: past the default budget (20 in 10 s) that rightly gives up on an agent that
#: keeps dying. The harness tests delivery across restarts, not that budget.
WORKLOAD_INTENSITY = {"intensity": 1000, "period": 10}
#: Faster than the default (3 misses 1 s apart), so a hang is noticed in ~1.5 s.
WORKLOAD_HEALTH = {"interval": 0.5, "timeout": 0.5, "misses": 3}
#: Small enough that an oversized message is cheap to build.
MAX_MESSAGE_BYTES = 65536
MAX_ATTEMPTS = 3
#: The flood victim's mailbox: a flood must fill it quickly.
FLOOD_MAILBOX = 64
#: How long a load thread waits for the node before counting a window unacknowledged.
CLIENT_TIMEOUT_S = 2.0
TICK_S = 0.02
#: A thread that fell behind (node down) catches up at most this much, then skips.
CATCH_UP_S = 0.25


@dataclass(frozen=True)
class AgentSet:
    """The agents of one run, by role."""

    ledgers: tuple[str, ...]
    counters: tuple[str, ...]
    flood_victim: str | None

    @property
    def workload(self) -> tuple[str, ...]:
        """Ledgers first, then counters: the order schedule targets index."""
        return self.ledgers + self.counters

    @property
    def all(self) -> tuple[str, ...]:
        return self.workload + ((self.flood_victim,) if self.flood_victim else ())

    def kind_of(self, name: str) -> str:
        if name in self.ledgers:
            return "ledger"
        if name in self.counters:
            return "counter"
        return "flood-victim"


def agent_set(prefix: str, ledgers: int, counters: int, flood: bool) -> AgentSet:
    return AgentSet(
        ledgers=tuple(f"{prefix}ledger-{i}" for i in range(ledgers)),
        counters=tuple(f"{prefix}counter-{i}" for i in range(counters)),
        flood_victim=f"{prefix}flood-victim" if flood else None,
    )


def spawn_arguments(agents: AgentSet, name: str) -> tuple[Path, dict[str, Any]]:
    """The module and spawn options of one of the run's agents."""
    module = example_path("counter") if name in agents.counters else LEDGER_PATH
    options: dict[str, Any] = {
        "intensity": WORKLOAD_INTENSITY,
        "health": WORKLOAD_HEALTH,
        "limits": {"max_message_bytes": MAX_MESSAGE_BYTES},
        "max_attempts": MAX_ATTEMPTS,
        "mailbox": FLOOD_MAILBOX if name == agents.flood_victim else None,
    }
    return module, options


def spawn_agents(client: caxton.Client, agents: AgentSet, spawned: list[str]) -> None:
    """Spawn every agent of the run, noting each in ``spawned`` as it comes up.

    An existing name is the user's to resolve; the list lets the caller remove
    exactly what this run created and never an agent that was there before.
    """
    for name in agents.all:
        module, options = spawn_arguments(agents, name)
        try:
            client.spawn(name, module, **options)
            spawned.append(name)
        except caxton.AgentExists:
            raise UsageError(f"the node already has an agent named {name!r}; "
                             "pick another --prefix") from None
        except caxton.CaxtonError as exc:
            raise HarnessError(f"could not spawn {name}: {type(exc).__name__}: {exc}") from None


#: Errors after which a sender tries its next entry node: this one did not answer.
#: (``StorageUnavailable`` is every node's at once, so it stays.)
ENTRY_DOWN = (caxton.NodeUnavailable, caxton.CallTimeout)
#: How long an entry node that did not answer is passed over before it is tried again.
ENTRY_BACKOFF_S = 3.0


@dataclass
class LoadGenerator:
    """Sender threads (one per agent) and one caller thread, paced by the clock.

    Against one node every thread talks to ``address``. Against a cluster,
    ``entries`` gives each agent's sender the node addresses to send through,
    in order of preference (any node forwards to the agent's owner), and the
    caller spreads its calls over ``call_entries`` in turn; a thread whose
    entry did not answer moves to its next one for ``ENTRY_BACKOFF_S``, as a
    client of a cluster does, so a lost node costs it one window.
    """

    address: str
    books: AckBook
    rate: float
    call_share: float
    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    call_entries: tuple[str, ...] = ()
    #: the run's clock (seconds since its start), to date the first error of each type
    clock: Callable[[], float] | None = None
    #: messages never sent because a thread fell behind (the node was down, a call hung)
    skipped: int = 0
    #: acknowledged messages by the address they were sent through
    through: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        books = list(self.books.agents.values())
        send_rate = self.rate * (1.0 - self.call_share) / len(books)
        for book in books:
            self._spawn_thread(f"chaos-send-{book.name}", self._sender, book, send_rate)
        if self.call_share > 0:
            self._spawn_thread("chaos-call", self._caller, books, self.rate * self.call_share)

    def _spawn_thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT_S * 4 + 5)

    def _paced(self, rate: float) -> Iterator[int]:
        """Yield how many messages are due now; waits a tick when none are."""
        start = time.monotonic()
        done = 0
        limit = max(1, int(rate * CATCH_UP_S))
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * rate) - done
            if due <= 0:
                self._stop.wait(TICK_S)
                continue
            if due > limit:  # fell behind (the node was down): skip, do not burst
                with self._lock:
                    self.skipped += due - limit
                done += due - limit
                due = limit
            done += due
            yield due

    def _at(self) -> str:
        return "" if self.clock is None else f"at {self.clock():.2f}s, "

    def _counted(self, address: str, count: int) -> None:
        if len(self.call_entries) > 1 or self.entries:
            with self._lock:
                self.through[address] += count

    def _sender(self, book: AgentBook, rate: float) -> None:
        with _Entries(self.entries.get(book.name, (self.address,))) as entries:
            for due in self._paced(rate):
                seqs = book.reserve(due)
                address, client = entries.pick()
                try:
                    client.send_many(book.name, [encode_seq(s) for s in seqs],
                                     window=min(256, due))
                except caxton.CaxtonError as exc:
                    book.failed(len(seqs), type(exc).__name__,
                                f"{self._at()}sent through {address}: {exc}")
                    if isinstance(exc, ENTRY_DOWN):
                        entries.down(address)
                    continue
                book.acknowledged(seqs, via="send")
                self._counted(address, len(seqs))

    def _caller(self, books: list[AgentBook], rate: float) -> None:
        targets = itertools.cycle(books)
        with _Entries(self.call_entries or (self.address,)) as entries:
            for due in self._paced(rate):
                for _ in range(due):
                    if self._stop.is_set():
                        return
                    book = next(targets)
                    seqs = book.reserve(1)
                    address, client = entries.pick()
                    entries.rotate()
                    try:
                        client.call(book.name, encode_seq(seqs[0]), timeout=CLIENT_TIMEOUT_S)
                    except caxton.CaxtonError as exc:
                        book.failed(1, type(exc).__name__,
                                    f"{self._at()}called through {address}: {exc}")
                        if isinstance(exc, ENTRY_DOWN):
                            entries.down(address)
                        continue
                    book.acknowledged(seqs, via="call")
                    self._counted(address, 1)


class _Entries:
    """One load thread's way into the system: its clients, one per entry address
    (opened on first use), and which entry to use next. With one address this is
    exactly one client, as against a single node."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self.addresses = addresses
        self.next = 0
        self._clients: dict[str, caxton.Client] = {}
        self._avoid_until: dict[str, float] = {}

    def pick(self) -> tuple[str, caxton.Client]:
        """The first entry, from ``next`` on, that has not failed lately (else ``next``)."""
        now = time.monotonic()
        count = len(self.addresses)
        address = self.addresses[self.next % count]
        for step in range(count):
            candidate = self.addresses[(self.next + step) % count]
            if self._avoid_until.get(candidate, 0.0) <= now:
                address = candidate
                break
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = caxton.connect(address,
                                                             timeout=CLIENT_TIMEOUT_S)
        return address, client

    def rotate(self) -> None:
        self.next += 1

    def down(self, address: str) -> None:
        if len(self.addresses) > 1:
            self._avoid_until[address] = time.monotonic() + ENTRY_BACKOFF_S

    def __enter__(self) -> _Entries:
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self._clients.values():
            client.close()
