"""The cluster as a client sees it: ``nodes``, and the poke nodes send each other.

``nodes`` lists every node that shares this node's store, with its address,
state, lease age and agent count (``caxton cluster status`` shows it). A
node alone on SQLite is a cluster of one and lists itself.
"""

from __future__ import annotations

from typing import Any

from caxton.node.context import Handler, NodeContext
from caxton.node.records import Waiter


def nodes(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    if ctx.cluster is None:
        return [{"name": ctx.name, "address": ctx.address, "epoch": 1,
                 "state": "alive", "lease_age_s": 0.0, "self": True, "started": ctx.started,
                 "agents": sum(1 for r in ctx.agents.records() if r.primary is None)}]
    return ctx.cluster.nodes()


def cluster_poke(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    """Another node kept transfers or placed agents here: the scan was scheduled."""
    return None


OPERATIONS: dict[str, Handler] = {
    "nodes": nodes,
    "cluster_poke": cluster_poke,
}
