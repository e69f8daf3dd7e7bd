"""The shipped scenarios: which faults, how often.

A scenario is plain data, so ``build_schedule`` can turn it into the same list
of faults for the same seed on every machine. Rates are given as a mean
interval between faults of each kind; ``steady`` kinds fire at exactly that
interval (a storm), the others at a random offset in each interval-sized slot,
so they spread over the run without clustering.
"""

from __future__ import annotations

from dataclasses import dataclass

KILL = "kill"                # SIGKILL an agent process
HANG = "hang"                # SIGSTOP an agent process, SIGCONT it later
POISON = "poison"            # a message that traps the instance
FUEL_BOMB = "fuel-bomb"      # a message that never ends (fuel runs out)
MEMORY_BOMB = "memory-bomb"  # a message that grows memory past the limit
OVERSIZED = "oversized"      # a message over the agent's size limit
FLOOD = "flood"              # more messages than the victim's mailbox holds
NODE_CRASH = "node-crash"    # SIGKILL the node, restart it on the same data folder
DEPLOY = "deploy"            # deploy a new version of a ledger (immediate, rolling, blue-green)
ROLLBACK = "rollback"        # roll a ledger's live deployment back
NODE_KILL = "node-kill"      # cluster: SIGKILL the node owning a ledger, restart it after
NODE_PAUSE = "node-pause"    # cluster: SIGSTOP the node owning a ledger past its lease
PG_RESTART = "pg-restart"    # cluster: stop the PostgreSQL server under load, start it again

FAULT_KINDS = (KILL, HANG, POISON, FUEL_BOMB, MEMORY_BOMB, OVERSIZED, FLOOD, NODE_CRASH)
#: Faults carried by a message: they need a ledger (it traps, spins or grows on them).
MESSAGE_FAULTS = (POISON, FUEL_BOMB, MEMORY_BOMB, OVERSIZED)
#: Faults on an agent's OS process: any workload agent will do.
PROCESS_FAULTS = (KILL, HANG)
#: Deployments and rollbacks: on ledgers (their state carries across versions).
DEPLOYMENT_FAULTS = (DEPLOY, ROLLBACK)
#: Faults on a cluster's nodes: each aims at the node that owns a ledger when it fires,
#: so every one of them moves agents (a node that owns none would test nothing).
NODE_FAULTS = (NODE_KILL, NODE_PAUSE)
#: Every fault of the cluster scenarios (``chaos.cluster`` injects them).
CLUSTER_FAULT_KINDS = (NODE_KILL, NODE_PAUSE, PG_RESTART)


@dataclass(frozen=True)
class FaultRate:
    """One kind of fault in a scenario.

    ``every_s``: mean seconds between two faults of this kind; ``count``, when
    set, fixes the number instead (spread evenly over the run), for faults whose
    number matters more than their rate (three node crashes).
    """

    kind: str
    every_s: float = 0.0
    count: int | None = None
    steady: bool = False
    minimum: int = 1


@dataclass(frozen=True)
class Scenario:
    """``cluster``: run against three nodes over a PostgreSQL server the harness starts
    (``chaos.cluster``), not against one node."""

    name: str
    description: str
    faults: tuple[FaultRate, ...]
    cluster: bool = False

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(rate.kind for rate in self.faults)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("kill-storm", "SIGKILL a random workload agent 5 times a second",
                 (FaultRate(KILL, every_s=0.2, steady=True),)),
        Scenario("hangs", "SIGSTOP a random agent for 0.2-3 s, then SIGCONT it; the long "
                 "ones outlast the health check, which replaces the instance",
                 (FaultRate(HANG, every_s=3.0),)),
        Scenario("poison", "send a ledger a message that traps it, every 2 s",
                 (FaultRate(POISON, every_s=2.0),)),
        Scenario("bombs", "fuel bombs, memory bombs, oversized messages and mailbox floods",
                 (FaultRate(FUEL_BOMB, every_s=6.0), FaultRate(MEMORY_BOMB, every_s=6.0),
                  FaultRate(OVERSIZED, every_s=6.0), FaultRate(FLOOD, every_s=10.0))),
        Scenario("node-crash", "SIGKILL the node 3 times and restart it on the same data folder",
                 (FaultRate(NODE_CRASH, count=3),)),
        Scenario("deploy-storm", "deploy a new version of a ledger every 2 s (immediate, "
                 "rolling, blue-green in turn) and roll one back every 3 s, under load, "
                 "with an agent SIGKILLed twice a second",
                 (FaultRate(DEPLOY, every_s=2.0), FaultRate(ROLLBACK, every_s=3.0),
                  FaultRate(KILL, every_s=0.5, steady=True))),
        Scenario("mixed", "all of the above at once",
                 (FaultRate(KILL, every_s=1.0, steady=True), FaultRate(HANG, every_s=6.0),
                  FaultRate(POISON, every_s=6.0), FaultRate(FUEL_BOMB, every_s=12.0),
                  FaultRate(MEMORY_BOMB, every_s=12.0), FaultRate(OVERSIZED, every_s=12.0),
                  FaultRate(FLOOD, every_s=20.0), FaultRate(NODE_CRASH, every_s=30.0))),
        Scenario("cluster-kill", "3 nodes over one PostgreSQL: SIGKILL the node owning a "
                 "ledger every 10 s; the others take its agents over; it is restarted and "
                 "rejoins", (FaultRate(NODE_KILL, every_s=10.0),), cluster=True),
        Scenario("cluster-pause", "3 nodes over one PostgreSQL: SIGSTOP the node owning a "
                 "ledger past its lease every 10 s, SIGCONT it once its agents serve "
                 "elsewhere; it must be fenced and rejoin with none",
                 (FaultRate(NODE_PAUSE, every_s=10.0),), cluster=True),
        Scenario("cluster-pg-restart", "3 nodes over one PostgreSQL: stop the server for "
                 "0.5-4 s every 8 s, then start it; no node may be taken over for it",
                 (FaultRate(PG_RESTART, every_s=8.0),), cluster=True),
        Scenario("cluster", "all three cluster faults, each every 15 s; node faults one at "
                 "a time, a server restart may overlap one",
                 (FaultRate(NODE_KILL, every_s=15.0), FaultRate(NODE_PAUSE, every_s=15.0),
                  FaultRate(PG_RESTART, every_s=15.0)), cluster=True),
    )
}
