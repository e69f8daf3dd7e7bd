"""The epoch ticker that turns wall-clock deadlines into wasm interrupts.

wasmtime checks a store's epoch deadline at function entries and loop
back-edges; something has to advance the engine epoch for that check to mean
"time has passed". A daemon thread does it every ``TICK_MS`` milliseconds.

Two constraints shape it:

* Node agent processes are forked from a zygote, and a thread does not
  survive ``fork``. So nothing starts at import time: the ticker starts on
  first use in the process that runs instances, and restarts itself when it
  finds it is in a new process (pid changed).
* A node runs many agent processes, most of them idle. A ticker waking 500
  times a second in each of them would burn CPU for nothing, so the ticker
  parks after ``IDLE_AFTER_S`` without any call and is woken by the next one.

Granularity: a call with a deadline of D ms is interrupted after at least D ms
and, on an unloaded machine, at most about D + 2 * TICK_MS ms.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Protocol

from caxton.wasm.engine import all_engines

__all__ = ["IDLE_AFTER_S", "TICK_MS", "Ticker", "deadline_ticks", "ticker"]

TICK_MS = 2
IDLE_AFTER_S = 0.5


class _CallSite(Protocol):
    """Anything that runs wasm calls and says whether one is in progress."""

    in_call: bool


def deadline_ticks(deadline_ms: int) -> int:
    """Epoch ticks for a deadline, rounded up, plus one for the partial tick in progress."""
    return -(-deadline_ms // TICK_MS) + 1


class Ticker:
    """Advances every engine's epoch while any instance may be running."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._sites: weakref.WeakSet[_CallSite] = weakref.WeakSet()
        self._start_lock = threading.Lock()
        #: True while the thread is parked; read on every call (cheap).
        self.idle = False
        #: perf_counter() of the latest call start, written by call sites.
        self.last_use = 0.0

    def register(self, site: _CallSite) -> None:
        """Track a call site and make sure the thread runs in this process."""
        self._ensure_started()
        self._sites.add(site)

    def wake(self) -> None:
        """Called by a call site that found the ticker parked."""
        self.idle = False
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def _ensure_started(self) -> None:
        if self.running:
            return
        with self._start_lock:
            if self.running:
                return
            # After a fork the old thread is gone and its Event may be in any
            # state: start from fresh objects.
            self._wake = threading.Event()
            self.idle = False
            self.last_use = time.perf_counter()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="caxton-epoch-ticker", daemon=True
            )
            self._thread.start()

    def _any_in_call(self) -> bool:
        try:
            return any(site.in_call for site in list(self._sites))
        except RuntimeError:  # the set changed while we looked: assume busy
            return True

    def _run(self) -> None:
        tick = TICK_MS / 1000
        while True:
            time.sleep(tick)
            for engine in all_engines():
                engine.increment_epoch()
            if time.perf_counter() - self.last_use < IDLE_AFTER_S or self._any_in_call():
                continue
            # Publish "idle" first, then look again: a call that started in
            # between either sees idle and wakes us, or is seen here.
            self._wake.clear()
            self.idle = True
            if not self._any_in_call() and time.perf_counter() - self.last_use >= IDLE_AFTER_S:
                self._wake.wait()
            self.idle = False


ticker = Ticker()
