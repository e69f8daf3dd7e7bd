"""From a scenario and a seed to the exact list of faults a run injects.

``build_schedule`` is a pure function: the same scenario, seed, duration and
number of agents give the same faults, of the same kinds, at the same offsets,
on the same targets, on any machine. Each fault kind draws from its own
random stream (seeded by a string, which Python hashes the same everywhere),
so adding a kind to a scenario does not move the others.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from chaos.errors import UsageError
from chaos.scenarios import (
    DEPLOYMENT_FAULTS,
    HANG,
    MESSAGE_FAULTS,
    NODE_FAULTS,
    NODE_KILL,
    NODE_PAUSE,
    PG_RESTART,
    PROCESS_FAULTS,
    SCENARIOS,
    FaultRate,
    Scenario,
)

#: Hang lengths: the short ones end by SIGCONT, the long ones outlast the
#: workload's health check (3 missed pings 0.5 s apart) and get replaced.
HANG_RANGE_S = (0.2, 3.0)
#: What ``hold_s`` means for the cluster's faults, and its range:
#: node-kill: how long the node stays dead after its agents serve elsewhere;
#: node-pause: how long it stays stopped after that (it is past its lease by then);
#: pg-restart: how long the server stays down, either side of the lease (1.5 s).
CLUSTER_HOLD_S = {NODE_KILL: (0.0, 2.0), NODE_PAUSE: (0.0, 1.5), PG_RESTART: (0.5, 4.0)}


@dataclass(frozen=True)
class PlannedFault:
    """One fault of a schedule.

    ``target`` indexes the workload agents (ledgers first, then counters);
    ``None`` for faults on the node or on the flood victim; for a cluster's node
    faults, the ledger whose owning node is hit. ``hold_s`` is how long a hang
    lasts (for the cluster's faults, see ``CLUSTER_HOLD_S``).
    """

    offset: float
    kind: str
    target: int | None = None
    hold_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fault_window(duration: float) -> tuple[float, float]:
    """Faults start after a short warm-up (the load is flowing) and stop at the end."""
    return min(1.0, duration * 0.05), duration


def build_schedule(
    scenario: Scenario | str, seed: int, duration: float, *, ledgers: int, counters: int = 0,
    exclude: frozenset[str] = frozenset(),
) -> tuple[PlannedFault, ...]:
    """The faults of one run, sorted by offset (seconds from the start of the load).

    ``exclude`` drops whole kinds (node crashes, against a node the harness did
    not start) without moving the faults of the other kinds.
    """
    if isinstance(scenario, str):
        if scenario not in SCENARIOS:
            raise UsageError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
        scenario = SCENARIOS[scenario]
    if duration <= 0:
        raise UsageError("duration must be positive")
    if ledgers < 1 or counters < 0:
        raise UsageError("a schedule needs at least one ledger")
    faults: list[PlannedFault] = []
    for rate in scenario.faults:
        if rate.kind in exclude:
            continue
        rng = random.Random(f"chaos:{seed}:{scenario.name}:{rate.kind}")
        for offset in _offsets(rate, duration, rng):
            faults.append(_fault(rate.kind, round(offset, 3), rng, ledgers, counters))
    faults.sort(key=lambda f: (f.offset, f.kind))
    return tuple(faults)


def _offsets(rate: FaultRate, duration: float, rng: random.Random) -> list[float]:
    start, end = fault_window(duration)
    span = end - start
    count = rate.count if rate.count is not None else max(rate.minimum, int(span / rate.every_s))
    if count <= 0:
        return []
    slot = span / count
    if rate.steady:
        return [start + i * slot for i in range(count)]
    # one fault in the middle half of each slot: random, yet never two back to back
    return [start + (i + 0.25 + 0.5 * rng.random()) * slot for i in range(count)]


def _fault(kind: str, offset: float, rng: random.Random, ledgers: int,
           counters: int) -> PlannedFault:
    if kind in PROCESS_FAULTS:
        target: int | None = rng.randrange(ledgers + counters)
    elif kind in MESSAGE_FAULTS or kind in DEPLOYMENT_FAULTS or kind in NODE_FAULTS:
        target = rng.randrange(ledgers)
    else:
        target = None
    if kind == HANG:
        hold: float | None = round(rng.uniform(*HANG_RANGE_S), 3)
    elif kind in CLUSTER_HOLD_S:
        hold = round(rng.uniform(*CLUSTER_HOLD_S[kind]), 3)
    else:
        hold = None
    return PlannedFault(offset, kind, target, hold)
