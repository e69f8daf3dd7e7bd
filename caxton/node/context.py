"""What a request handler is given: the node's parts, never its loop or its socket.

Handlers (``caxton.node.handlers``) turn one client request into calls on these
parts and return the reply, or ``DEFERRED`` when the reply comes later (a call
answered by the agent, a spawn answered once the first instance serves). The
loop turn then commits and sends replies; a handler never does either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from caxton.deploy.controller import Deployments
from caxton.node.agents import Agents
from caxton.node.config import NodeConfig
from caxton.node.modules import Modules
from caxton.node.outbox import Outbox
from caxton.node.records import Waiter
from caxton.node.router import Router
from caxton.store import Store

if TYPE_CHECKING:
    from caxton.node.cluster import ClusterRole

#: a handler's result when the reply comes later, from the router or the agents
DEFERRED: Any = object()


@dataclass(frozen=True)
class NodeContext:
    """The parts of a node a handler may use; built once by the node."""

    name: str
    config: NodeConfig
    instance: str  # tells a client that an IPC socket it found leads to this very node
    local_address: str | None
    started: float
    store: Store
    router: Router
    outbox: Outbox
    agents: Agents
    modules: Modules
    deploys: Deployments
    #: the management address clients reach this node at
    address: str = ""
    #: this node's membership of a cluster (a PostgreSQL store), else None
    cluster: ClusterRole | None = None


Handler = Callable[[NodeContext, Waiter, dict[str, Any]], Any]
