"""What the client sees of an agent: its status and its DOWN events.

Plain records built from the node's replies, so the client needs nothing of
the node's insides to read them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class AgentStatus:
    """One agent as ``status`` and ``list`` report it; unknown fields of a newer node are
    ignored, so an older client still reads it."""

    name: str
    state: str
    module_sha256: str
    pid: int | None
    uptime_s: float | None
    restarts: int
    last_failure: str | None
    memory_bytes: int
    rss_bytes: int
    fuel_consumed: int
    messages_handled: int
    messages_failed: int
    mailbox_depth: int
    health: str
    restart: str
    policy: str
    monitors: int = 0
    logs_dropped: int = 0
    sends_over_quota: int = 0
    violations: int = 0
    #: the label of the version it runs (``deploy``'s ``version``, or its module hash's head)
    version: str | None = None
    #: each instance behind the name: index, pid, state, health, mailbox_depth,
    #: messages_handled, messages_failed, restarts, version (``Client.scale``)
    instances: tuple[dict[str, Any], ...] = ()
    #: the node that runs it (in a cluster, the owner of its placement)
    node: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentStatus:
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        if "instances" in values:
            values["instances"] = tuple(values["instances"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Down:
    """An agent instance went down; ``reason`` follows the supervisor's vocabulary."""

    name: str
    pid: int | None
    reason: str
    time: float
    restarting: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Down:
        return cls(
            name=str(data["name"]),
            pid=data.get("pid"),
            reason=str(data["reason"]),
            time=float(data["time"]),
            restarting=bool(data.get("restarting", False)),
        )


@dataclass(frozen=True)
class DeadLetter:
    """A message the agent's instance died on ``max_attempts`` times, kept with the reasons."""

    message_id: int
    sender: str
    payload: bytes
    reasons: list[str]
    time: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadLetter:
        return cls(
            message_id=int(data["message_id"]),
            sender=str(data["sender"]),
            payload=bytes(data["payload"]),
            reasons=[str(r) for r in data["reasons"]],
            time=float(data["time"]),
        )
