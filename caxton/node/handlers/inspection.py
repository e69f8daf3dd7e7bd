"""Looking at the node and its agents: ping, status, list, monitor.

None of these changes an agent; ``monitor`` only registers the client for
DOWN events, which leave as they happen (see ``Outbox.event``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from caxton import protocol
from caxton.node import cgroups
from caxton.node.context import Handler, NodeContext
from caxton.node.records import AgentRecord, Waiter
from caxton.node.status import agent_status


def ping(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return {"node": ctx.name, "pid": os.getpid(), "agents": len(ctx.agents),
            "uptime_s": time.time() - ctx.started, "protocol": protocol.PROTOCOL_VERSION,
            "local": ctx.local_address, "instance": ctx.instance,
            # (agents back, agents to bring back) while the node recovers, else None
            "recovering": ctx.agents.recovering,
            "budget": ctx.agents.budget.usage(ctx.agents.running_specs()),
            "cgroups": cgroups.report(ctx.agents.runtime.cgroups, ctx.agents.caps),
            "storage": {"ok": ctx.store.fault is None, "fault": ctx.store.fault,
                        "since": ctx.store.fault_since, "durability": ctx.store.durability},
            "cluster": None if ctx.cluster is None else ctx.cluster.report()}


def status(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return agent_status(_live_monitors(ctx, ctx.agents.lookup(arguments)))


def list_agents(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    return [agent_status(_live_monitors(ctx, rec))
            for rec in ctx.agents.records()
            if rec.primary is None]  # an agent's instances are in its status


def _live_monitors(ctx: NodeContext, rec: AgentRecord) -> AgentRecord:
    """Drop the monitors of clients that went away (killed ones never said goodbye)."""
    if rec.monitors:
        rec.monitors = [m for m in rec.monitors
                        if ctx.outbox.still_there(m, {"monitoring": rec.name})]
    return rec


def monitor(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    rec.monitors.append(waiter)
    return {"monitoring": rec.name}


OPERATIONS: dict[str, Handler] = {
    "ping": ping,
    "status": status,
    "list": list_agents,
    "monitor": monitor,
}
