"""The agent modules the benchmarks spawn.

The echo agent is the project's own example (``examples/agents/echo.wat``);
the 1 MB-state agent ships with the benchmarks (``agents/bigstate.wat``)
because no example keeps a state big enough to make a restore cost something.
"""

from __future__ import annotations

from pathlib import Path

from caxton.bench.errors import BenchUnavailable

AGENTS_DIR = Path(__file__).resolve().parent / "agents"


def echo_module() -> bytes:
    try:
        from caxton.wasm.examples import example_path
    except ImportError as exc:
        raise BenchUnavailable(f"the example agents are missing ({exc})") from None
    try:
        return example_path("echo").read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise BenchUnavailable(f"the echo example agent is missing ({exc})") from None


def bigstate_module() -> bytes:
    """An agent whose snapshot is 1 MiB of its linear memory (see the WAT for the layout)."""
    return (AGENTS_DIR / "bigstate.wat").read_bytes()


def spin_init_module() -> bytes:
    """A module whose ``caxton_init`` spins until its deadline (see the WAT)."""
    return (AGENTS_DIR / "spin_init.wat").read_bytes()


#: Benchmark agents run without health pings, so the only traffic is the workload.
HEALTH_OFF = "off"
#: Restart intensity high enough that a burst of SIGKILLs never makes the node give up.
MANY_RESTARTS = {"intensity": 1_000, "period": 1.0}  # the node's default maximum
