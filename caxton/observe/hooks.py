"""The points where the node's rooms tell observability what happened.

The router and the agents room call these at a handful of places (an ack
batch, an instance's death, a dead letter, a validation): one line each at the
call site, nothing else of the node changes. ``Hooks`` itself does nothing, so
a node run with ``--metrics off`` pays one empty method call per ack batch
and no more.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NULL_HOOKS", "Hooks"]


class Hooks:
    """Observability's view of the node's events; this base ignores them all."""

    #: whether agent processes should time ``caxton_handle`` for the histograms
    timing = False

    def acked(self, rec: Any, acks: list[Any], stats: list[int]) -> None:
        """An agent acknowledged a batch: ``stats`` as ``caxton.agent._stats`` built it."""

    def down(self, rec: Any, pid: int | None, reason: str, restarting: bool) -> None:
        """An instance is gone (before the router blames and puts its window back)."""

    def dead_letter(self, rec: Any, reason: str, kind: str) -> None:
        """A message of ``rec`` was dead-lettered: ``kind`` is ``killed`` (it killed the
        agent ``max_attempts`` times) or ``send_refused`` (a send the target refused)."""

    def validated(self, name: str, outcome: Any) -> None:
        """A spawn's module validation finished: a ``ValidationReport`` or a reason string."""


NULL_HOOKS = Hooks()
