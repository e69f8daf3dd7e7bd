"""The node's resource budgets: how many agents, how much guest memory, how many descriptors.

Every agent costs the node file descriptors (its pidfd and the two ZeroMQ
connections of its link and its health pings) and may use up to its memory
limit. A node that runs out of descriptors does not fail politely: libzmq
aborts the whole process on ``EMFILE``, and every agent dies with it. So the
node raises its soft ``RLIMIT_NOFILE`` to the hard limit at start, keeps a
reserve of descriptors for clients and the store, and refuses a spawn that
would pass a budget with ``ResourceExhausted`` before anything is started.

The memory budget counts each agent's memory *limit*, not its use: a spawn is
a promise that the agent may grow that far, and only promises that can all be
kept together are made.
"""

from __future__ import annotations

import logging
import os
import resource
from collections.abc import Iterable
from typing import Any

import psutil

from caxton.errors import ResourceExhausted
from caxton.node.spec import AgentSpec

log = logging.getLogger("caxton.node")

#: descriptors one agent costs the node (pidfd, link, health link), measured
DESCRIPTORS_PER_AGENT = 3
#: descriptors kept free for clients, the store, the validator and the zygote
DESCRIPTOR_RESERVE = 256


def raise_descriptor_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, target, exc)
    return int(soft)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


class Budget:
    """The node's budgets and what is used of them; checked before every spawn."""

    def __init__(self, *, max_agents: int | None, memory_bytes: int | None) -> None:
        self.descriptor_limit = raise_descriptor_limit()
        # what the node holds before any agent (store, sockets, zygote, the
        # validator-to-be) comes off the top
        base = open_descriptors() + DESCRIPTORS_PER_AGENT
        by_descriptors = max(0, (self.descriptor_limit - DESCRIPTOR_RESERVE - base)
                             // DESCRIPTORS_PER_AGENT)
        self.max_agents = by_descriptors if max_agents is None else min(max_agents,
                                                                        by_descriptors)
        total = psutil.virtual_memory().total
        self.memory_bytes = int(total * 0.8) if memory_bytes is None else memory_bytes

    def check(self, spec: AgentSpec, running: Iterable[AgentSpec]) -> None:
        """Raise ``ResourceExhausted`` if starting ``spec`` beside ``running`` passes a budget."""
        specs = list(running)
        if len(specs) + 1 > self.max_agents:
            raise ResourceExhausted(
                f"the node runs {len(specs)} agents, its most ({self.max_agents}, from "
                f"{self.descriptor_limit} file descriptors); stop or remove one first",
                budget="agents", limit=self.max_agents)
        # the backstop: clients may have taken part of the reserve, never all of it
        free = self.descriptor_limit - open_descriptors()
        if free < DESCRIPTOR_RESERVE // 2 + DESCRIPTORS_PER_AGENT:
            raise ResourceExhausted(
                f"only {free} file descriptors are free of {self.descriptor_limit}",
                budget="descriptors", limit=self.descriptor_limit)
        promised = sum(_memory(s) for s in specs)
        if promised + _memory(spec) > self.memory_bytes:
            raise ResourceExhausted(
                f"agent memory limits would add up to {promised + _memory(spec)} bytes, over"
                f" the node's memory budget of {self.memory_bytes}",
                budget="memory", limit=self.memory_bytes)

    def usage(self, running: Iterable[AgentSpec]) -> dict[str, Any]:
        specs = list(running)
        return {"agents": len(specs), "max_agents": self.max_agents,
                "memory_bytes": sum(_memory(s) for s in specs),
                "memory_budget_bytes": self.memory_bytes,
                "descriptors": open_descriptors(), "descriptor_limit": self.descriptor_limit}


def _memory(spec: AgentSpec) -> int:
    return int(spec.limits.get("memory_bytes", 0))
