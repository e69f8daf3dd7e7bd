"""A node's settings beyond its name, data folder and address.

One frozen record, built from the node's command line (``caxton.node.cli``)
or by whoever embeds a node, and read by the rooms that enforce it. Every
setting has the default a careful operator would pick; ``docs/security.md``
and ``docs/node.md`` list them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from caxton.node.cgroups import DEFAULT_CPU, MEMORY_OVERHEAD_BYTES
from caxton.node.spec import Maximums
from caxton.quotas import Quotas


@dataclass(frozen=True)
class NodeConfig:
    """Settings of one node; the defaults are the documented ones."""

    #: what an acknowledged message survives: ``process`` (the node dying) or
    #: ``machine`` (a power cut too: every commit is fsynced); see docs/node.md
    durability: str = "process"
    #: where the store is: None for SQLite in the data folder (the default), or a
    #: ``postgresql://`` URL (``--store``; docs/node.md, "Store backends")
    store: str | None = None
    #: how long a cluster node's lease lasts without renewal (a PostgreSQL store):
    #: past it the others take the node's agents over (docs/cluster.md)
    lease_seconds: float = 3.0
    #: the address other nodes reach this one at (None: the ``--listen`` address)
    advertise: str | None = None
    #: the node's CurveZMQ secret key file (``caxton keys generate``); with
    #: ``authorized_keys``, every client must hold an authorized key (docs/security.md)
    secret_key: str | None = None
    #: a folder of the public keys (``*.key``, each with its role) the node admits
    authorized_keys: str | None = None
    #: listen on an address other hosts can reach without keys (refused otherwise)
    insecure: bool = False
    #: what each guest may emit: log lines and bytes, sends per message
    quotas: Quotas = field(default_factory=Quotas)
    #: the most agents that hold processes at once (None: as many as the file
    #: descriptor limit allows, ~3 each beside a reserve of 256)
    max_agents: int | None = None
    #: what the agents' memory limits may add up to (None: 80% of the machine's memory)
    memory_budget_bytes: int | None = None
    #: the longest one module's validation may run (its guest deadlines add up
    #: to less for most); past it the validator process is killed and replaced
    validation_seconds: float = 120.0
    #: the most a spawn may ask for, per field (``--max-limit NAME=VALUE``)
    maximums: Maximums = field(default_factory=Maximums)
    #: cores each agent process may use, through its cgroup (None: uncapped)
    agent_cpu: float | None = DEFAULT_CPU
    #: what an agent process's cgroup allows beside its guest's memory limit
    agent_memory_overhead: int = MEMORY_OVERHEAD_BYTES
    #: metrics, the flight recorder and the dashboard (``--metrics off``: none of them)
    metrics: bool = True
    #: the HTTP endpoint (``/metrics``, the dashboard) as HOST:PORT; None: no endpoint
    http: str | None = "127.0.0.1:7780"
    #: one ack batch in this many gets a ``message.handle`` span (when tracing is on)
    trace_every: int = 100
