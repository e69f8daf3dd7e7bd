"""A run's settings, checked in one place before anything starts.

The CLI and the Python API both build a ``RunConfig``; ``validate`` refuses a
setting that cannot work with a ``UsageError`` naming it, so a bad flag never
costs a node start.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import UsageError
from chaos.ledger import CAPACITY
from chaos.scenarios import NODE_CRASH, SCENARIOS

_PREFIX = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]{0,63})?")
MIN_DURATION_S = 5.0
MAX_DURATION_S = 86_400.0
MAX_RATE = 100_000.0
MAX_AGENTS = 64


def random_seed() -> int:
    return int.from_bytes(os.urandom(4), "little")


@dataclass(frozen=True)
class RunConfig:
    scenario: str
    seed: int = field(default_factory=random_seed)
    duration: float = 60.0
    rate: float = 1000.0
    agents: int = 4
    counters: int = 0
    call_share: float = 0.05
    report: Path | None = None
    node: str | None = None
    node_args: tuple[str, ...] = ()
    # the module run as ``python -m`` for a node the harness starts; the tests
    # swap in a double that breaks delivery, to show the checker can fail
    node_module: str = "caxton.node"
    prefix: str | None = None
    keep_data: bool = False

    def validate(self) -> RunConfig:
        if self.scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {self.scenario!r} "
                             f"(known: {', '.join(SCENARIOS)})")
        if not MIN_DURATION_S <= self.duration <= MAX_DURATION_S:
            raise UsageError(f"--duration must be between {MIN_DURATION_S:g} and "
                             f"{MAX_DURATION_S:g} seconds, not {self.duration:g}")
        if not 0 < self.rate <= MAX_RATE:
            raise UsageError(f"--rate must be above 0 and at most {MAX_RATE:g} messages/s")
        if not 1 <= self.agents <= MAX_AGENTS:
            raise UsageError(f"--agents must be between 1 and {MAX_AGENTS}")
        if not 0 <= self.counters <= MAX_AGENTS:
            raise UsageError(f"--counters must be between 0 and {MAX_AGENTS}")
        if not 0 <= self.call_share <= 0.5:
            raise UsageError("--call-share must be between 0 and 0.5")
        if self.seed < 0:
            raise UsageError("--seed must be a non-negative integer")
        per_agent = self.rate * self.duration / (self.agents + self.counters)
        if per_agent * 1.25 >= CAPACITY:
            raise UsageError(f"{per_agent:.0f} messages per agent is over a ledger's capacity "
                             f"({CAPACITY}); use more --agents or a shorter --duration")
        if self.report is not None and not self.report.parent.is_dir():
            raise UsageError(f"--report {self.report}: folder {self.report.parent} "
                             "does not exist")
        if SCENARIOS[self.scenario].cluster:
            if self.node is not None:
                raise UsageError(f"the {self.scenario} scenario starts its own cluster (three "
                                 "nodes and a PostgreSQL server); drop --node")
            if self.node_module != "caxton.node":
                raise UsageError(f"the {self.scenario} scenario runs caxton.node only")
            from caxton.store.throwaway import MISSING, pg_bin

            if pg_bin() is None:
                raise UsageError(f"the {self.scenario} scenario needs PostgreSQL: {MISSING}")
        if self.node is not None:
            if self.node_args or self.node_module != "caxton.node":
                raise UsageError("--node-arg only applies to a node the harness starts, "
                                 "not to --node")
            if SCENARIOS[self.scenario].kinds == (NODE_CRASH,):
                raise UsageError("the node-crash scenario needs a node the harness starts "
                                 "(it restarts it); drop --node")
        if self.prefix is not None and not _PREFIX.fullmatch(self.prefix):
            raise UsageError("--prefix may hold letters, digits and '-' only, starting with "
                             "a letter or digit")
        return self

    @property
    def agent_prefix(self) -> str:
        """Agent names: plain on a node of our own, unique per run on a shared one."""
        if self.prefix is not None:
            return self.prefix
        return f"chaos-{os.urandom(3).hex()}-" if self.node else ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["report"] = None if self.report is None else str(self.report)
        data["node_args"] = list(self.node_args)
        return data
