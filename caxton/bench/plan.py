"""How much work each benchmark does in a quick and in a full run.

The workloads themselves (100 agents, 100-byte payloads, windows of 256 and 64)
are fixed and the same in both modes; only the number of samples and
repetitions shrinks in ``--quick`` so that the smoke run stays under a minute
on two cores while the full run stays under ten.
"""

from __future__ import annotations

from dataclasses import dataclass

PAYLOAD_BYTES = 100
SEND_WINDOW = 256
CALL_WINDOW = 64
SPAWN_AGENTS = 100
FAN_OUT_AGENTS = 10
STATE_BYTES = 1 * 2**20
REPLAYED_MESSAGES = 100


@dataclass(frozen=True)
class Plan:
    quick: bool
    #: timed repetitions of each series, after one untimed warm-up
    repeats: int
    #: rounds of SPAWN_AGENTS spawns
    spawn_rounds: int
    #: SIGKILLs per repetition (figure 2)
    kills: int
    #: sequential calls per repetition (figure 3)
    calls: int
    #: messages per pipelined repetition (figure 4)
    pipelined: int
    #: seconds per in-process handle measurement (figure 5)
    handle_seconds: float
    #: agent counts for idle memory (figure 6)
    memory_agents: tuple[int, ...]
    #: SIGKILLs of the stateful agent per repetition (figure 7)
    restarts: int
    #: Ray actors created / measured for memory (each costs ~0.5 s and ~200 MB)
    ray_actors: int

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(quick=True, repeats=2, spawn_rounds=1, kills=6, calls=1_000,
                       pipelined=4_000, handle_seconds=0.5, memory_agents=(100,),
                       restarts=4, ray_actors=3)
        return cls(quick=False, repeats=5, spawn_rounds=5, kills=40, calls=10_000,
                   pipelined=20_000, handle_seconds=2.0, memory_agents=(100, 1_000),
                   restarts=20, ray_actors=10)
