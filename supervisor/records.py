"""Records the library hands to callbacks: plain frozen data, cheap to log."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["ChildInfo", "ChildState", "Down", "Event", "Exit", "MonitorRef"]


class ChildState(StrEnum):
    """Where a supervisor's child stands. A ``StrEnum``: compares equal to its
    value, so ``info.state == "running"`` keeps working."""

    STARTING = "starting"  # queued or forked; its start not acknowledged yet
    RUNNING = "running"  # acknowledged its start (OTP: has a pid)
    RESTARTING = "restarting"  # a restart is pending (backoff, group, failed restart)
    MANUAL_WAIT = "manual_wait"  # policy Manual: down until restart_child
    STOPPED = "stopped"  # down: terminated, normal exit, gave up, or never started
    IGNORED = "ignored"  # its start function returned "ignore" (OTP: pid undefined)

_refs = itertools.count(1)


@dataclass(frozen=True)
class MonitorRef:
    """Identifies one monitor; unique within the supervising process."""

    value: int
    child_id: str

    @classmethod
    def new(cls, child_id: str) -> MonitorRef:
        return cls(next(_refs), child_id)


@dataclass(frozen=True)
class Down:
    """Delivered exactly once per monitor, when the monitored incarnation ended
    (or at once with reason ``noproc`` if there was none)."""

    ref: MonitorRef
    id: str
    pid: int | None
    reason: str


@dataclass(frozen=True)
class Exit:
    """An exit signal from a linked child, received by a child trapping exits."""

    from_id: str
    pid: int | None
    reason: str


@dataclass(frozen=True)
class Event:
    """One thing that happened in a supervision tree.

    kinds: ``started``, ``exited``, ``restarting`` (``delay`` set),
    ``gave_up``, ``manual_wait``, ``unhealthy``, ``intensity_exceeded``,
    ``terminated`` (a supervisor stopped; ``child`` is None), ``supervisor_started``,
    ``start_failed`` (a child failed before acknowledging a first start),
    ``ignored`` (its start function returned "ignore"), ``auto_shutdown``.

    ``restart`` (``exited`` only) is True exactly when supervision will start
    that child again (at once, after a delay, or with its group), decided
    before the event is emitted, so an embedder need not re-derive it.
    """

    kind: str
    supervisor: str
    child: str | None
    pid: int | None
    reason: str | None
    delay: float | None
    time: float
    restart: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChildInfo:
    """One row of :meth:`Supervisor.which_children`.

    ``state`` is a :class:`ChildState`.
    """

    id: str
    pid: int | None
    type: str
    state: ChildState
    restart: str

    @property
    def running(self) -> bool:
        return self.state in (ChildState.STARTING, ChildState.RUNNING) and (
            self.pid is not None or self.type == "supervisor")
