"""Making a node run what a manifest says (``caxton apply -f agents.yaml``).

Idempotent by comparison with what the node reports: an agent the node does
not have is spawned (and scaled); one whose module hash differs gets a
deployment with the manifest's strategy; one whose instance count differs is
scaled; one that matches is left alone, and a manifest that matches entirely
changes nothing. Agents the node runs that the manifest does not list are left
alone (apply never removes). Only the module and the instance count of a
running agent are changed: its limits, restart policy and the rest are set at
its spawn (``plan`` says so when the node reports a difference).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caxton.client import Client
from caxton.manifest import AgentEntry
from caxton.status import AgentStatus


@dataclass
class Step:
    """What apply does (or did) to one agent."""

    agent: str
    #: spawn, deploy, scale, unchanged
    actions: list[str]
    entry: AgentEntry
    current: AgentStatus | None
    notes: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "actions": self.actions, "done": self.done,
                "notes": self.notes, "sha256": self.entry.sha256,
                "instances": self.entry.instances}


def plan(client: Client, entries: list[AgentEntry]) -> list[Step]:
    """What apply would do, from the node's current agents; nothing is changed."""
    running = {s.name: s for s in client.list_agents()}
    steps = []
    for entry in entries:
        current = running.get(entry.name)
        if current is None:
            actions = ["spawn"] + (["scale"] if entry.instances > 1 else [])
            steps.append(Step(entry.name, actions, entry, None))
            continue
        actions = []
        if current.module_sha256 != entry.sha256:
            actions.append("deploy")
        if len(current.instances or [None]) != entry.instances:
            actions.append("scale")
        step = Step(entry.name, actions or ["unchanged"], entry, current)
        for key in ("restart",):
            wanted = entry.spawn.get(key)
            if wanted is not None and wanted != getattr(current, key):
                step.notes.append(f"{key} is {getattr(current, key)}, the manifest says "
                                  f"{wanted}: set at spawn, not changed by apply")
        steps.append(step)
    return steps


def execute(client: Client, steps: list[Step],
            report: Callable[[Step, str], None] = lambda step, line: None) -> list[Step]:
    """Carry out ``plan``'s steps in order; ``report`` hears each as it completes. A
    failure (e.g. a deployment rolled back) raises at once, after what was done."""
    for step in steps:
        entry = step.entry
        for action in step.actions:
            if action == "spawn":
                status = client.spawn(entry.name, entry.wasm, **entry.spawn)
                line = f"spawned (module {status.module_sha256[:12]})"
            elif action == "deploy":
                d = entry.deployment
                dep = client.deploy(entry.name, entry.wasm, strategy=d.strategy,
                                    version=entry.version, batch_size=d.batch_size,
                                    warm_up=d.warm_up, keep_previous=d.keep_previous)
                line = f"deployed version {dep.version} ({dep.strategy}, deployment {dep.id})"
            elif action == "scale":
                before = len(step.current.instances) if step.current is not None else 1
                status = client.scale(entry.name, entry.instances)
                line = f"scaled from {before} to {len(status.instances)} instances"
            else:
                line = "unchanged"
            step.done.append(line)
            report(step, line)
    return steps
