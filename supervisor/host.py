"""The interface between a Supervisor and the Runtime that hosts it.

A supervisor decides (restart types, policies, strategies, intensity); the
runtime does (forks, signals, sockets, timers, events). Each side talks to the
other only through the protocols below, so either can change its insides
without the other noticing:

* :class:`Host` is what a supervisor needs from its runtime;
* :class:`ChildOwner` is what the runtime calls on the supervisor that owns a
  child process;
* :class:`Watched` is anything a monitor can be set on (a child process or a
  nested supervisor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .loop import TimerHandle
from .records import Down, MonitorRef

if TYPE_CHECKING:
    from .process import Process
    from .spec import ChildSpec, Shutdown

__all__ = ["ChildOwner", "Host", "Watched"]


class Watched(Protocol):
    """Holds the monitors set on it until it goes down."""

    monitors: dict[MonitorRef, Callable[[Down], None]]

    @property
    def alive(self) -> bool: ...


class ChildOwner(Protocol):
    """What the runtime calls on the supervisor that owns a child process."""

    id: str

    @property
    def on_message(self) -> Callable[[str, Any], None] | None: ...

    def child_started(self, proc: Process) -> None:
        """The child acknowledged its start (its ``ready()`` frame arrived)."""

    def child_exited(self, proc: Process, reason: str) -> None:
        """The child's process is gone; called once, before its monitors fire."""


class Host(Protocol):
    """What a supervisor needs from the runtime that hosts it."""

    def spawn(self, owner: ChildOwner, spec: ChildSpec) -> Process:
        """Fork a child running ``spec`` (raises ZygoteError if it cannot)."""

    def send(self, proc: Process, data: bytes) -> None:
        """Send one encoded frame to a live child (queued until it connects)."""

    def terminate(self, procs: Sequence[Process], shutdown: Shutdown,
                  deadline: float | None) -> None:
        """OTP's shutdown of every process of ``procs`` at once (SIGTERM, wait
        up to ``shutdown``, SIGKILL); returns once all are gone."""

    def await_start(self, proc: Process) -> None:
        """Block until ``proc`` acknowledged its start or is gone, dispatching
        nothing re-entrantly: other frames wait, in order, for the loop."""

    def emit(self, kind: str, supervisor: str, child: str | None, pid: int | None = None,
             reason: str | None = None, delay: float | None = None, *,
             restart: bool = False) -> None:
        """Queue an Event for the subscribers."""

    def call_soon(self, callback: Callable[[], None]) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...

    def monitor(self, target: Watched | None, ref: MonitorRef,
                callback: Callable[[Down], None]) -> None:
        """One Down when ``target`` goes down; ``noproc`` next turn if it is not alive."""

    def demonitor(self, ref: MonitorRef) -> None: ...

    def deliver_down(self, ref: MonitorRef, callback: Callable[[Down], None],
                     down: Down) -> None:
        """Deliver a Down on the next loop turn unless demonitored before."""
