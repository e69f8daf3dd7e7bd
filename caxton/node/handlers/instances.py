"""Scaling an agent: ``scale`` runs N instances behind its name.

Checked here, settled with the deployments (a scale lets go of the previous
version a live deployment keeps for a rollback, as a new deployment does; one
still in progress refuses it), and carried out by ``caxton.node.instances``.
Answered once every new instance serves, or every leaving one has drained.
"""

from __future__ import annotations

from typing import Any

from caxton.node.context import DEFERRED, Handler, NodeContext
from caxton.node.records import Waiter
from caxton.protocol import check_timeout


def scale(ctx: NodeContext, waiter: Waiter, arguments: dict[str, Any]) -> Any:
    rec = ctx.agents.lookup(arguments)
    count = ctx.agents.instances.check_scale(rec, arguments.get("instances"))
    drain_timeout = check_timeout(arguments.get("drain_timeout", 60.0), "drain_timeout")
    ctx.deploys.settle_for_scale(rec)
    result = ctx.agents.instances.scale(rec, count, waiter, float(drain_timeout))
    return DEFERRED if result is None else result


OPERATIONS: dict[str, Handler] = {"scale": scale}
