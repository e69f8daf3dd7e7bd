"""One incarnation of a worker: the supervising side's record of a live OS process.

A restarted child gets a new record (new pid, new routing ids), so monitors,
links and queued messages belong to one incarnation, as they belong to one pid
in Erlang.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .loop import TimerHandle
from .records import Down, MonitorRef

if TYPE_CHECKING:
    from .cgroups import ChildCgroup
    from .host import ChildOwner
    from .spec import ChildSpec
    from .zygote import ZygoteClient

__all__ = ["Process"]


class Process:
    __slots__ = (
        "acked",
        "cgroup",
        "connected",
        "exited",
        "exited_at",
        "finalized",
        "health_check",
        "health_rid",
        "health_tick",
        "id",
        "ignored",
        "kill_reason",
        "links",
        "misses",
        "monitors",
        "owner",
        "pending",
        "pid",
        "pidfd",
        "ping_seq",
        "pong_seq",
        "report_timer",
        "reported",
        "restart_after",
        "rid",
        "spawned_at",
        "spec",
        "status",
        "terminating",
        "trap",
        "zygote",
    )

    def __init__(self, owner: ChildOwner, spec: ChildSpec, zygote: ZygoteClient, pid: int,
                 pidfd: int, rid: bytes, health_rid: bytes | None, spawned_at: float) -> None:
        self.owner = owner
        self.zygote = zygote
        self.spec = spec
        self.id = spec.id
        self.pid = pid
        self.pidfd = pidfd
        self.rid = rid
        self.health_rid = health_rid
        self.spawned_at = spawned_at
        self.connected = False
        self.acked = False  # the child acknowledged its start (init_ack)
        self.ignored = False  # its start function returned "ignore"
        self.restart_after = False  # set by whoever terminates it on purpose
        self.exited_at = 0.0
        self.pending: list[bytes] = []
        self.reported: str | None = None
        self.kill_reason: str | None = None
        self.status: int | None = None
        self.exited = False
        self.finalized = False
        self.terminating = False
        self.trap = spec.trap_exits
        self.monitors: dict[MonitorRef, Callable[[Down], None]] = {}
        self.links: set[Process] = set()
        self.report_timer: TimerHandle | None = None
        self.health_tick: TimerHandle | None = None
        self.health_check: TimerHandle | None = None
        self.ping_seq = 0
        self.pong_seq = 0
        self.misses = 0
        self.cgroup: ChildCgroup | None = None

    @property
    def alive(self) -> bool:
        return not self.exited

    def cancel_timers(self) -> None:
        for timer in (self.health_tick, self.health_check):
            if timer is not None:
                timer.cancel()
        self.health_tick = self.health_check = None

    def __repr__(self) -> str:
        return f"<Process {self.owner.id}/{self.id} pid={self.pid}>"
