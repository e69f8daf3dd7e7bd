"""Chaos: a fault-injection harness for Caxton, with a checker and a verdict.

It drives a node through the client API only, like any user: spawns ledger
agents (which record exactly which numbered messages took effect), feeds them a
steady load, injects a seeded schedule of faults (agent kills and hangs,
poison, fuel and memory bombs, oversized messages, mailbox floods, node
crashes), and then compares what the node acknowledged with what the agents
ended with. ``python -m chaos run --scenario mixed`` is the command-line face;
``run(RunConfig(...))`` the Python one.

The ``cluster*`` scenarios drive three nodes over a PostgreSQL server the
harness starts itself (``chaos.cluster``): nodes killed, paused past their
lease and the server restarted, with the same load, checker and verdict.
"""

from chaos.book import AckBook, AgentBook
from chaos.checker import RunFacts, Verdict, check, check_counter, check_ledger
from chaos.config import RunConfig
from chaos.errors import ChaosError, HarnessError, UsageError
from chaos.faults import INJECTORS, FaultRecord
from chaos.ledger import CAPACITY, LEDGER_PATH, LedgerState, encode_seq
from chaos.runner import RunResult, plan, run
from chaos.scenarios import FAULT_KINDS, SCENARIOS, FaultRate, Scenario
from chaos.schedule import PlannedFault, build_schedule
from chaos.stats import percentile

__all__ = [
    "CAPACITY",
    "FAULT_KINDS",
    "INJECTORS",
    "LEDGER_PATH",
    "SCENARIOS",
    "AckBook",
    "AgentBook",
    "ChaosError",
    "FaultRate",
    "FaultRecord",
    "HarnessError",
    "LedgerState",
    "PlannedFault",
    "RunConfig",
    "RunFacts",
    "RunResult",
    "Scenario",
    "UsageError",
    "Verdict",
    "build_schedule",
    "check",
    "check_counter",
    "check_ledger",
    "encode_seq",
    "percentile",
    "plan",
    "run",
]
