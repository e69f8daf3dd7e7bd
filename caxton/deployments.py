"""What the client sees of a deployment: a version of an agent and how it went live.

A plain record built from the node's reply (``deploy``, ``deployments``,
``deployment``, ``rollback``), so the client needs nothing of the node's
insides. ``docs/deployments.md`` explains the states and stages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Deployment:
    """One version of one agent: its module, its strategy, its state and its stages.

    ``state`` is one of ``validating``, ``deploying``, ``running``, ``draining``,
    ``failed``, ``rolled_back`` and ``retired``. ``stages`` lists what happened,
    in order, each ``{"name", "seconds", "text", "ok"}``; ``events`` every state
    transition with its time and reason. Unknown fields of a newer node are ignored.
    """

    id: int
    agent: str
    version: str
    sha256: str
    strategy: str
    state: str
    batch_size: int = 1
    warm_up: float | None = None
    keep_previous: float = 300.0
    previous: dict[str, Any] | None = None
    rollback_of: int | None = None
    reason: str = ""
    created: float = 0.0
    switched_at: float | None = None
    finished: float | None = None
    finalised: bool = False
    report: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    instances: dict[str, bool] = field(default_factory=dict)
    #: a canary's plan and verdicts (``stages``, ``stage``, ``percent``, ``verdicts``)
    canary: dict[str, Any] | None = None
    #: progress lines, in order: {"time", "kind", "text", "ok", ...}
    progress: list[dict[str, Any]] = field(default_factory=list)

    def follow(self, client: Any, *, poll: float = 0.05) -> Iterator[dict[str, Any]]:
        """This deployment's progress lines as they happen (``Client.follow``)."""
        follow: Iterator[dict[str, Any]] = client.follow(self.id, poll=poll)
        return follow

    @property
    def live(self) -> bool:
        """Whether this version serves the agent now."""
        return self.state == "running"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
