"""A deployment as observability sees it: one call per event, nothing when metrics are off.

``caxton.observe`` exposes a deployments API (``observer.deployments``: the
``caxton_deployment_duration_seconds{strategy,status}`` histogram,
``caxton_deployment_rollback_total{reason}``, ``caxton_agent_version_active``,
ADR-0008's log lines and spans). The controller calls this wrapper at each
step; a node run with ``--metrics off`` has no such API and every call here
does nothing.
"""

from __future__ import annotations

from typing import Any

from caxton.deploy.model import Deployment

#: a rollback's reason as a metric label (few values): why it happened, not its text
_REASONS = (("by request", "requested"), ("restarted", "node_restarted"),
            ("restore", "restore_failed"), ("cannot", "start_failed"))


#: a canary's rollback reasons are labels already
CANARY_REASONS = frozenset({"error_rate", "latency", "restarts", "manual"})


def rollback_reason(text: str) -> str:
    if text in CANARY_REASONS:
        return text
    for needle, label in _REASONS:
        if needle in text:
            return label
    return "warm_up_failed"


def set_version(hooks: Any, agent: str, version: str | None) -> None:
    """``version`` serves all of ``agent``'s traffic now."""
    api = getattr(hooks, "deployments", None)
    if api is not None and version is not None:
        api.set_versions(agent, {version: 1.0})


class Observed:
    """The watch of one deployment, ended once (success, failed or rolled_back)."""

    def __init__(self, hooks: Any, dep: Deployment) -> None:
        api = getattr(hooks, "deployments", None)
        self.watch = None if api is None else api.begin(
            str(dep.id), agent=dep.agent, version=dep.version, strategy=dep.strategy)
        self.ended = False

    def validated(self, seconds: float, passed: bool) -> None:
        if self.watch is not None:
            self.watch.validation("pipeline", seconds, passed)

    def rollback(self, reason: str) -> None:
        if self.watch is not None:
            self.watch.rollback(rollback_reason(reason))

    def end(self, status: str) -> None:
        if self.watch is not None and not self.ended:
            self.ended = True
            self.watch.end(status)
