"""Records the library hands to callbacks: plain frozen data, cheap to log."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ChildInfo", "Down", "Event", "Exit", "MonitorRef"]

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
    ``terminated`` (a supervisor stopped; ``child`` is None), ``supervisor_started``.
    """

    kind: str
    supervisor: str
    child: str | None
    pid: int | None
    reason: str | None
    delay: float | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChildInfo:
    """One row of :meth:`Supervisor.which_children`.

    ``state`` is one of ``starting`` (forked, link not yet connected),
    ``running``, ``restarting`` (waiting for a restart, e.g. a backoff delay),
    ``manual_wait``, ``stopped``.
    """

    id: str
    pid: int | None
    type: str
    state: str
    restart: str

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running")
