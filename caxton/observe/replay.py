"""Re-running a recorded crash offline: "it crashed at 3 a.m." as a reproducible case.

A crash record (``caxton.observe.recorder``) holds what the dead instance
started from (its snapshot, or its init bytes), the messages it handled since,
and the message it died on. ``replay`` builds a fresh instance of the same
module under the same limits and policy in this process (a local sandbox: no
node, no agent process, sends and log lines only recorded), restores the same
start state, handles the same messages in the same order, and hands it the
fatal message. A deterministic guest fails the same way; the result says
whether it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from caxton.wasm import AgentInstance, Limits, RecordingImports, SecurityPolicy, load_module

__all__ = ["ReplayResult", "replay"]


@dataclass
class ReplayResult:
    """What the replay did, beside what the node recorded."""

    recorded: str                # the crash's kind (trap, out_of_fuel, ...)
    recorded_reason: str
    start: str                   # "snapshot after message N" or "init"
    replayed: int                # messages handled before the fatal one
    status: str                  # the fatal message's outcome here: ok, error, failed
    reason: str | None
    message: str
    same: bool                   # failed with the recorded kind
    sends: list[tuple[str, bytes]] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)
    diverged_at: int | None = None  # a replayed message that failed here but not on the node

    def to_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "recorded_reason": self.recorded_reason,
                "start": self.start, "replayed": self.replayed, "status": self.status,
                "reason": self.reason, "message": self.message, "same": self.same,
                "diverged_at": self.diverged_at,
                "sends": [[to, payload] for to, payload in self.sends],
                "logs": [[level, text] for level, text in self.logs]}


def replay(crash: dict[str, Any], module: bytes) -> ReplayResult:
    """Re-run ``crash`` against ``module`` (the agent's wasm) in this process."""
    spec = crash["spec"]
    policy = SecurityPolicy.preset(spec.get("security", "default"))
    limits = Limits.from_dict(spec.get("limits") or {})
    compiled = load_module(module, policy=policy)
    imports = RecordingImports()
    instance = AgentInstance(compiled, limits, imports, policy=policy)
    kind, reason = str(crash.get("kind")), str(crash.get("reason"))
    try:
        snapshot = crash.get("snapshot")
        if snapshot is not None and instance.has_snapshot:
            started = instance.restore(snapshot)
            start = f"snapshot after message {crash.get('snapshot_last_message_id')}"
        else:
            started = instance.init(spec.get("init") or b"")
            start = "init"
        if not started.ok:
            return ReplayResult(kind, reason, start, 0, started.status, started.reason,
                                f"the start state was refused: {started.message}",
                                same=started.reason == kind)
        replayed = 0
        for message_id, sender, payload in crash.get("replay") or []:
            outcome = instance.handle(payload, sender)
            if outcome.status == "failed":
                return ReplayResult(kind, reason, start, replayed, outcome.status,
                                    outcome.reason, outcome.message,
                                    same=outcome.reason == kind, diverged_at=message_id)
            replayed += 1
        imports.sent.clear()
        imports.logs.clear()
        fatal = crash.get("message")
        if fatal is None:
            return ReplayResult(kind, reason, start, replayed, "none", None,
                                "no message was being handled when the instance died",
                                same=False)
        outcome = instance.handle(fatal[2], fatal[1])
        return ReplayResult(kind, reason, start, replayed, outcome.status, outcome.reason,
                            outcome.message,
                            same=outcome.status == "failed" and outcome.reason == kind,
                            sends=list(imports.sent), logs=list(imports.logs))
    finally:
        instance.close()
