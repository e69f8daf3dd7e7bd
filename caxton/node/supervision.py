"""How an agent's spec becomes a supervision subtree.

Each agent gets a supervisor of its own with one worker, the agent process.
Its restart type, policy and health check go on the worker; its restart
intensity on the supervisor, so a crash-looping agent exhausts only its own
budget and the node marks it ``failed`` while every other agent keeps serving.
Its limits also become the caps of the cgroup each of its processes runs in,
where the host allows cgroups (``caxton.node.cgroups``).
"""

from __future__ import annotations

from typing import Any

from caxton.node.cgroups import AgentCaps
from caxton.node.spec import AgentSpec
from supervisor import (
    Backoff,
    ChildSpec,
    HealthCheck,
    Immediate,
    Manual,
    Never,
    RestartPolicy,
    SupervisorSpec,
)

AGENT_ENTRY = "caxton.agent:main"
# An idle agent exits at once on SIGTERM; past this it is killed.
AGENT_SHUTDOWN_SECONDS = 2.0


def supervisor_id(name: str) -> str:
    return f"agent:{name}"


def restart_policy(policy: dict[str, Any]) -> RestartPolicy:
    kind = policy["kind"]
    if kind == "backoff":
        return Backoff(initial=policy["initial"], factor=policy["factor"],
                       maximum=policy["maximum"], jitter=policy["jitter"])
    if kind == "manual":
        return Manual()
    if kind == "never":
        return Never()
    return Immediate()


def supervisor_spec_for(spec: AgentSpec) -> SupervisorSpec:
    return SupervisorSpec(id=supervisor_id(spec.name), strategy="one_for_one",
                          intensity=int(spec.intensity["intensity"]),
                          period=float(spec.intensity["period"]))


def child_spec_for(spec: AgentSpec, config: dict[str, Any],
                   caps: AgentCaps | None = None) -> ChildSpec:
    """The agent process's spec; with ``caps``, in a cgroup capped from its limits."""
    health = None
    if spec.health is not None:
        health = HealthCheck(interval=float(spec.health["interval"]),
                             timeout=float(spec.health["timeout"]),
                             misses=int(spec.health["misses"]))
    return ChildSpec(
        id=spec.name,
        start=AGENT_ENTRY,
        args=(config,),
        restart=spec.restart,  # type: ignore[arg-type]
        policy=restart_policy(spec.policy),
        shutdown=AGENT_SHUTDOWN_SECONDS,
        health=health,
        title=f"caxton agent {spec.name}",
        resources=caps.resources(spec.limits) if caps is not None else None,
    )
