"""What the node keeps in memory about each agent.

The store is the truth that survives a crash; this is the working copy the
loop reads on every message: the mailbox (journaled messages not yet handed to
the instance), the window in flight to the instance (handed over, not yet
acknowledged), the callers waiting for replies and the counters ``status`` shows.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caxton.node.lifecycle import Lifecycle
from caxton.node.spec import AgentSpec

if TYPE_CHECKING:
    from supervisor import Supervisor

# A client waiting on the node: (ZeroMQ identity, request id).
Waiter = tuple[bytes, int]


@dataclass(slots=True)
class Message:
    """A message in a mailbox or in flight, with the deaths it is blamed for."""

    id: int
    sender: str
    payload: bytes
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)


@dataclass(eq=False)  # identity semantics: records live in sets
class AgentRecord:
    """The node's working copy of one agent, read on every message.

    The ``agents`` room writes the lifecycle, the supervisor and the waiters;
    the router alone writes the mailbox, the window in flight, the callers and
    the fields of the current instance (pid, serving, health, counters).
    """

    spec: AgentSpec
    lifecycle: Lifecycle
    node: str = ""  # the name of the node that runs it (status shows it)
    supervisor: Supervisor | None = None
    mailbox: deque[Message] = field(default_factory=deque)
    in_flight: dict[int, Message] = field(default_factory=dict)
    in_flight_bytes: int = 0        # payload bytes of the window (dispatch bounds it)
    callers: dict[int, Waiter] = field(default_factory=dict)
    monitors: list[Waiter] = field(default_factory=list)
    spawn_waiters: list[Waiter] = field(default_factory=list)
    stop_waiters: list[Waiter] = field(default_factory=list)
    snapshot_waiters: list[Waiter] = field(default_factory=list)
    # the current instance
    pid: int | None = None
    serving: bool = False           # said ready; messages may be dispatched
    ever_ready: bool = False
    started_at: float | None = None
    start_deferred: bool | None = None  # said hello while the store was unreadable
    blamed: int | None = None       # message the instance reported failing on
    blame_reason: str | None = None
    # counters for status
    restarts: int = 0
    last_failure: str | None = None
    memory_bytes: int = 0
    fuel_consumed: int = 0
    handled: int = 0
    failed: int = 0
    logs_dropped: int = 0           # log lines over the guest's quotas
    sends_over_quota: int = 0       # sends refused with SEND_OVER_QUOTA
    violations: int = 0             # quota breaches and sandbox refusals
    health: str = "unknown"
    next_probe: float = 0.0         # monotonic time of the next caxton_health probe
    # snapshots
    since_snapshot: int = 0
    last_snapshot_at: float = field(default_factory=time.monotonic)
    snapshot_pending: bool = False
    # stopping
    stop_deadline: Any = None       # timer handle while draining
    persist_stop: bool = True       # False when the node itself is shutting down
    drain_snapshot: bool = False    # the drain's final snapshot was requested
    # deployments (caxton.deploy)
    held: bool = False              # the router hands the instance nothing (a switch is due)
    journal_pinned: bool = False    # snapshots keep the journal: a rollback may replay it
    canary: Any = None              # a canary lane sharing its traffic (caxton.deploy.canary)
    deploy: Any = None              # the switch watching this instance, told of its frames
    version: str | None = None      # the label of the version it runs (status shows it)
    # instances (caxton.node.instances)
    group: Any = None               # on instance 0 of a scaled agent: its Group
    primary: AgentRecord | None = None  # on instance k > 0: the agent's own record
    index: int = 0                  # its instance number

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def depth(self) -> int:
        return len(self.mailbox) + len(self.in_flight)
