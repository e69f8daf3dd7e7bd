"""A deployment as the node records it: its version, strategy, state and stages.

Every version an agent ever ran is one deployment record: the module it
spawned with (strategy ``initial``), then each ``deploy``. The record is plain
data (stored as one msgpack blob per deployment, sent to clients as is), so a
node restarted on the same data folder reads back exactly what it wrote.

States are ADR-0008's (``validating``, ``deploying``, ``running``,
``draining``, ``failed``, ``rolled_back``) and one more the ADR has no name
for: ``retired``, a version a later deployment replaced and finalised.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from caxton.errors import InvalidRequest


class DeploymentState(StrEnum):
    """Where a deployment (a version of an agent) is; ``TRANSITIONS`` has the moves."""

    VALIDATING = "validating"
    DEPLOYING = "deploying"
    RUNNING = "running"
    DRAINING = "draining"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"


S = DeploymentState
TRANSITIONS: dict[DeploymentState, frozenset[DeploymentState]] = {
    S.VALIDATING: frozenset({S.DEPLOYING, S.FAILED}),
    # deploying -> retired: a shadow that ran its course, never live
    S.DEPLOYING: frozenset({S.RUNNING, S.FAILED, S.ROLLED_BACK, S.RETIRED}),
    # running -> draining: a later version took over and this one is kept for a
    # rollback; draining -> running: that later version was rolled back
    S.RUNNING: frozenset({S.DRAINING, S.ROLLED_BACK}),
    S.DRAINING: frozenset({S.RUNNING, S.RETIRED}),
    S.FAILED: frozenset(),
    S.ROLLED_BACK: frozenset(),
    S.RETIRED: frozenset(),
}
#: states a deployment never leaves
FINAL = frozenset({S.FAILED, S.ROLLED_BACK, S.RETIRED})

#: the strategies built here
STRATEGIES = ("immediate", "rolling", "blue_green", "canary", "shadow")
#: strategies not built yet; refused with this reason
LATER: dict[str, str] = {}
#: the lifecycle guide's hot-reload names -> strategies
HOT_RELOAD = {"graceful": "blue_green", "traffic_splitting": "canary", "parallel": "shadow"}


def parse_strategy(value: Any) -> str:
    """A strategy name (``blue-green`` and ``blue_green`` alike), or a one-line refusal."""
    if not isinstance(value, str):
        raise InvalidRequest("strategy must be a string", field="strategy")
    name = value.strip().lower().replace("-", "_")
    if name in STRATEGIES:
        return name
    if name in HOT_RELOAD:
        name = HOT_RELOAD[name]
        if name in STRATEGIES:
            return name
    if name in LATER:
        raise InvalidRequest(f"strategy {value!r}: {LATER[name]}; use immediate, rolling, "
                             "blue-green, canary or shadow", field="strategy")
    raise InvalidRequest(f"unknown strategy {value[:40]!r}: use immediate, rolling, blue-green,"
                         " canary or shadow", field="strategy")


def default_version(sha256: str) -> str:
    """The label of a version nobody named: the head of its module's hash."""
    return sha256[:12]


@dataclass
class Deployment:
    """One version of one agent and how it went live (or did not)."""

    id: int
    agent: str
    version: str
    sha256: str
    strategy: str
    state: str = S.VALIDATING
    batch_size: int = 1
    warm_up: float | None = None
    keep_previous: float = 300.0
    #: the version it replaces: {"deployment", "version", "sha256"}; None for the first
    previous: dict[str, Any] | None = None
    #: for a rollback that had to deploy the previous version again: the one it undoes
    rollback_of: int | None = None
    reason: str = ""
    created: float = field(default_factory=time.time)
    switched_at: float | None = None
    finished: float | None = None
    #: the previous version's state was let go: no fast rollback any more
    finalised: bool = False
    report: dict[str, Any] | None = None
    #: every state transition: {"time", "from", "to", "reason"}
    events: list[dict[str, Any]] = field(default_factory=list)
    #: what the command line prints, in order: {"name", "seconds", "text", "ok"}
    stages: list[dict[str, Any]] = field(default_factory=list)
    #: instance name -> whether it runs this version now
    instances: dict[str, bool] = field(default_factory=dict)
    #: a canary's plan and analysis: {"stages", "stage", "percent", "rollback_on",
    #: "analysis_interval", "min_samples", "verdicts"} (caxton.deploy.canary)
    canary: dict[str, Any] | None = None
    #: what a person follows, in order: {"time", "kind", "text", "ok", ...}
    progress: list[dict[str, Any]] = field(default_factory=list)

    def to(self, target: DeploymentState, reason: str = "") -> None:
        current = DeploymentState(self.state)
        if target not in TRANSITIONS[current]:
            raise RuntimeError(f"deployment {self.id}: {current} -> {target} is not a move")
        self.events.append({"time": time.time(), "from": str(current), "to": str(target),
                            "reason": reason})
        self.state = str(target)
        if reason:
            self.reason = reason
        if target in FINAL or target is S.RUNNING:
            self.finished = self.finished or time.time()

    def stage(self, name: str, seconds: float, text: str, *, ok: bool = True) -> None:
        self.stages.append({"name": name, "seconds": round(seconds, 6), "text": text, "ok": ok})
        self.say(name, text, ok=ok, seconds=round(seconds, 6))

    def say(self, kind: str, text: str, *, ok: bool = True, **more: Any) -> None:
        """One progress line (``caxton deploy`` prints them as they come)."""
        self.progress.append({"time": time.time(), "kind": kind, "text": text, "ok": ok, **more})

    @property
    def final(self) -> bool:
        return DeploymentState(self.state) in FINAL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
