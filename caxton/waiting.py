"""How a client waits for a reply: look for it a little while, then sleep.

A thread that blocks on a ZeroMQ socket sleeps until libzmq's I/O thread
signals it, and waking a sleeping thread is the dearest step of a round trip
on a virtual machine: the wake-up crosses to another virtual CPU, which
usually means an interrupt delivered through the hypervisor, and a CPU that
went idle must be brought back first. Measured on the 2-core reference VM, a
ZeroMQ round trip between two processes costs ~40 us when everything shares
one CPU and ~130 us when it does not; a caller that keeps looking at its socket
for the reply instead of sleeping takes a call through the node from ~230 to
~175 us.

So a sequential request first *spins*: it asks the socket whether the reply is
there (``ZMQ_EVENTS``, no sleeping) and yields its CPU to anything else
runnable between looks (``sched_yield``), for at most ``spin`` seconds, then
blocks as before. What keeps this from costing a busy machine its cores:

* the spin is bounded (0.3 ms by default), and only a reply expected soon is
  spun for: a waiter whose replies kept arriving after the budget stops
  spinning and only tries again every ``RETRY_EVERY`` waits;
* one thread per process spins at a time; any other waiter blocks at once;
* pipelined requests (``call_many``, ``send_many``) never spin: their replies
  come in a stream and the wake-ups are shared by the whole window.

``spin=0`` (``caxton.connect(spin=0)``) turns it off and gives the plain
blocking wait.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import zmq

from caxton.zmqflags import readable

__all__ = ["DEFAULT_SPIN", "MISSES_BEFORE_BACKING_OFF", "RETRY_EVERY", "ReplyWait"]

#: how long a waiter looks for a reply before it sleeps (seconds)
DEFAULT_SPIN = 0.0003
#: this many waits in a row that outlasted the spin, and the waiter stops spinning
MISSES_BEFORE_BACKING_OFF = 4
#: a waiter that stopped spinning tries once again every this many waits
RETRY_EVERY = 64

# one spinning thread per process: a second one would only take a core from
# the node and the agent it is waiting for
_spinner = threading.Lock()


def _fresh_spinner() -> None:
    """In a forked child: a thread of the parent may have held the lock at the fork."""
    global _spinner
    _spinner = threading.Lock()


os.register_at_fork(after_in_child=_fresh_spinner)


class ReplyWait:
    """The wait strategy of one socket's owner (one per client; not thread-safe)."""

    def __init__(self, spin: float = DEFAULT_SPIN) -> None:
        if spin < 0:
            raise ValueError("spin must be >= 0 seconds")
        self.spin = float(spin)
        self._misses = 0
        self._skipped = 0

    @property
    def spinning(self) -> bool:
        """Whether the next wait will spin (False once replies keep coming late)."""
        return self.spin > 0 and self._misses < MISSES_BEFORE_BACKING_OFF

    def before_recv(self, sock: zmq.Socket[Any]) -> bool:
        """Spin for the next frame on ``sock`` if it pays; True if one is waiting.

        The caller then receives as usual: at once when this returned True,
        blocking (under its own timeout) otherwise.
        """
        if self.spin <= 0:
            return False
        if not self.spinning:
            self._skipped += 1
            if self._skipped < RETRY_EVERY:
                return False
            self._skipped = 0  # probe: have replies become quick again?
        if not _spinner.acquire(blocking=False):
            return False
        try:
            arrived = _spin_until_readable(sock, self.spin)
        finally:
            _spinner.release()
        self._misses = 0 if arrived else min(self._misses + 1, MISSES_BEFORE_BACKING_OFF)
        return arrived


def _spin_until_readable(sock: zmq.Socket[Any], budget: float) -> bool:
    clock = time.perf_counter
    yield_cpu = os.sched_yield
    deadline = clock() + budget
    while True:
        if readable(sock):
            return True
        if clock() >= deadline:
            return False
        yield_cpu()
