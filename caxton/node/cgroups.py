"""What an agent process may use of the machine: the cgroup caps that follow
from its limits.

ADR-0008 isolates each agent in a process of its own; where the host allows
cgroups, the supervision library puts each of those processes in a cgroup of
its own too (``supervisor.cgroups``), and this module says with what caps:

* memory: the guest's ``memory_bytes`` limit, plus what the process needs
  beside the guest (``memory_overhead``, measured below), plus room for four
  messages of ``max_message_bytes`` in flight (the frame, its decoded copy,
  the reply and the sends it buffers). wasmtime already holds the guest to its
  limit; the cgroup holds the whole process, host side included, so a leak or
  a burst there ends in an OOM kill of that agent alone (reason
  ``oom_killed``), never in the machine's OOM killer choosing a victim.
* CPU: ``cpu`` cores per agent process (the node's ``--agent-cpu``; None
  leaves it uncapped). A guest runs on one thread, so one core only bites on
  what the host side does beside it; a smaller share lets many agents share a
  machine predictably.

Where the host allows no cgroups the node runs without and says so, once in
its log at start and in every ``ping`` reply (``cgroups``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from caxton.wasm import Limits
from supervisor import CgroupSupport, Resources

log = logging.getLogger("caxton.node")

#: what an agent process charges to its cgroup beside its guest's linear
#: memory. Measured (peak ``memory.max_usage_in_bytes``, cgroup v1) on echo
#: agents: 1.5 to 1.8 MiB for one forked from the warm pool, 4.8 to 5 MiB for
#: a cold fork that compiles its module; the interpreter's pages are shared
#: with the zygote and charged there. Far more is left as headroom: module
#: code the agent is first to read from the cache is charged to it, and a
#: large module's code runs to tens of MiB.
MEMORY_OVERHEAD_BYTES = 64 * 2**20
#: cores per agent process unless the node is told otherwise (``--agent-cpu``):
#: none. A guest runs on one thread and its fuel and deadline bound each message,
#: so a cap of a whole core held back almost nothing, while the CPU cgroup it
#: needs cost every call (a task group of its own got the agent preempted about
#: three times as often: the call round trip 3 to 5% slower, ``caxton.bench.before``).
#: A cap worth having is a share: ``--agent-cpu 0.25`` on a machine of many agents.
DEFAULT_CPU: float | None = None
#: messages' worth of ``max_message_bytes`` an agent process may hold at once
MESSAGES_IN_FLIGHT = 4


@dataclass(frozen=True)
class AgentCaps:
    """The node's settings for agent cgroups; :meth:`resources` maps one agent's limits."""

    cpu: float | None = DEFAULT_CPU
    memory_overhead: int = MEMORY_OVERHEAD_BYTES

    def resources(self, limits: dict[str, Any]) -> Resources:
        parsed = Limits.from_dict(limits)
        memory = (parsed.memory_bytes + self.memory_overhead
                  + MESSAGES_IN_FLIGHT * parsed.max_message_bytes)
        return Resources(memory_max=memory, cpu_max=self.cpu)



def report(support: CgroupSupport, caps: AgentCaps | None) -> dict[str, Any]:
    """The ``cgroups`` entry of the node's ``ping`` reply: what the host allows
    (``mode`` ``none`` and a ``reason`` where it allows nothing) and the caps in force."""
    enforced = caps is not None and support.available
    return {**support.to_dict(), "enforced": enforced,
            "agent_cpu": caps.cpu if enforced and caps and support.cpu else None,
            "agent_memory_overhead": caps.memory_overhead
            if enforced and caps and support.memory else None}


def log_support(support: CgroupSupport, caps: AgentCaps) -> None:
    """Say once, at start, whether agent processes get cgroups and why not."""
    if not support.available:
        log.warning("agent processes run without cgroups (no memory or CPU caps, and a "
                    "descendant that leaves its process group is not swept): %s",
                    support.reason)
        return
    caps_text = []
    if support.memory:
        caps_text.append(f"memory: limit + {caps.memory_overhead // 2**20} MiB")
    if support.cpu and caps.cpu is not None:
        caps_text.append(f"cpu: {caps.cpu:g} cores")
    log.info("agent processes run in cgroups (%s%s)%s", support.mode,
             ", " + ", ".join(caps_text) if caps_text else "",
             f"; {support.reason}" if support.reason else "")
