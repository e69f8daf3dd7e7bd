"""A small single-threaded event loop over one ``zmq.Poller``.

The embedder registers its own sockets and file descriptors in the same
poller as the supervisor's ROUTER socket, the zygote's socket and the
children's pidfds, so one thread waits on everything at once without polling.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

__all__ = ["Loop", "TimerHandle"]

log = logging.getLogger("supervisor")


class TimerHandle:
    """Returned by :meth:`Loop.call_later`; ``cancel()`` is idempotent."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self) -> None:
        self._poller = zmq.Poller()
        self._readers: dict[Any, Callable[[], None]] = {}
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._ready: deque[Callable[[], None]] = deque()
        self._stopping = False

    # ------------------------------------------------------------ readers
    def add_reader(self, sock_or_fd: zmq.Socket[Any] | int,
                   callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever ``sock_or_fd`` is readable (level-triggered)."""
        key = self._key(sock_or_fd)
        if key not in self._readers:
            self._poller.register(key, zmq.POLLIN)
        self._readers[key] = callback

    def remove_reader(self, sock_or_fd: zmq.Socket[Any] | int) -> None:
        key = self._key(sock_or_fd)
        if self._readers.pop(key, None) is not None:
            self._poller.unregister(key)

    @staticmethod
    def _key(sock_or_fd: Any) -> Any:
        if isinstance(sock_or_fd, zmq.Socket):
            return sock_or_fd
        if isinstance(sock_or_fd, int):
            return sock_or_fd
        if hasattr(sock_or_fd, "fileno"):
            return int(sock_or_fd.fileno())
        raise TypeError(f"expected a zmq.Socket or a file descriptor, got {sock_or_fd!r}")

    # ------------------------------------------------------------- timers
    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(time.monotonic() + max(0.0, delay), callback)
        heapq.heappush(self._timers, (handle.when, next(self._seq), handle))
        return handle

    def call_soon(self, callback: Callable[[], None]) -> None:
        self._ready.append(callback)

    # --------------------------------------------------------------- run
    def run_once(self, timeout: float | None = None) -> None:
        """Wait at most ``timeout`` s (None: until something happens) for one
        batch of readiness, due timers and queued callbacks, and run them."""
        if self._ready:
            wait_ms: int | None = 0
        else:
            wait = timeout
            if self._timers:
                until_timer = self._timers[0][0] - time.monotonic()
                wait = until_timer if wait is None else min(wait, until_timer)
            wait_ms = None if wait is None else max(0, int(wait * 1000 + 0.999))
        events = self._poller.poll(wait_ms) if self._readers or wait_ms != 0 else []
        if not self._readers and wait_ms:
            time.sleep(wait_ms / 1000)
        if events:
            readers = self._readers
            # snapshot first: a callback may close an fd and a later one may
            # register a new object under the same number within this batch
            batch = [(key, readers.get(key)) for key, _ in events]
            for key, callback in batch:
                if callback is not None and readers.get(key) is callback:
                    self._guard(callback)
        if self._timers:
            now = time.monotonic()
            timers = self._timers
            while timers and timers[0][0] <= now:
                handle = heapq.heappop(timers)[2]
                if not handle.cancelled:
                    self._guard(handle.callback)
        for _ in range(len(self._ready)):
            self._guard(self._ready.popleft())

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Run the loop until ``predicate()`` is true; False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return predicate()
            self.run_once(remaining)
        return True

    def run_forever(self) -> None:
        """Run until :meth:`stop` is called (from a callback)."""
        self._stopping = False
        while not self._stopping:
            self.run_once(None)
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    @staticmethod
    def _guard(callback: Callable[[], None]) -> None:
        """A failing callback is logged, never allowed to tear down the loop
        that supervises every child."""
        try:
            callback()
        except Exception:
            log.exception("supervisor: callback %r raised", callback)
