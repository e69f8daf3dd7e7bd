"""Why a figure could not be produced.

A benchmark raises ``BenchUnavailable`` when something it measures is missing
or broken (the node does not start, an agent does not come back); the runner
turns it into rows marked "unavailable: <reason>" and carries on with the
other figures, so one broken part never hides the numbers of the others.
"""

from __future__ import annotations


class BenchError(Exception):
    """Bad use of the benchmark command itself (e.g. an unknown ``--only`` name)."""


class BenchUnavailable(Exception):
    """A figure cannot be measured right now; the message says why."""
