"""What a deployment tells operators: metrics, ADR-0008 logs and spans, in one call each.

Deployments (``caxton.deploy``) drive this API; it owns no deployment logic::

    watch = observer.deployments.begin("dep-123", agent="processor", version="v2",
                                       strategy="canary")
    watch.validation("static", 0.3)          # validation.static span, validation-time metric
    with watch.stage("canary", percentage=5):  # canary.5_percent span, a log line
        ...
    watch.progress("canary", 25, {"error_rate": 0.01, "p99_latency_ms": 12})
    watch.rollback("high_error_rate")        # caxton_deployment_rollback_total{reason}
    with watch.finalize():                   # deployment.finalize span
        ...
    watch.end("success")                     # caxton_deployment_duration_seconds{strategy,status}

Every stage logs one event with ``deployment_id``, ``agent_id``, ``version``,
``stage``, ``percentage`` and ``metrics`` (ADR-0008's shape). Deployments in
progress are listed on the dashboard with their last figures. All calls come
from the node's loop thread.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from caxton.observe import tracing
from caxton.observe.histogram import Histogram
from caxton.observe.logs import event

__all__ = ["DeploymentWatch", "Deployments"]

log = logging.getLogger("caxton.deploy")

#: validation stages a deployment reports (ADR-0008) beside the pipeline's own names
VALIDATION_STAGES = ("static", "sandbox", "contracts", "resources")


class Deployments:
    """The figures of every deployment this node ran, and the ones in progress."""

    def __init__(self) -> None:
        self.active: dict[str, DeploymentWatch] = {}
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.validation_times: dict[str, Histogram] = {}
        self.rollbacks: Counter[str] = Counter()
        #: agent -> {version: share of its traffic (0..1)}, set by the deployment code
        self.versions: dict[str, dict[str, float]] = {}

    def begin(self, deployment_id: str, *, agent: str, version: str,
              strategy: str) -> DeploymentWatch:
        watch = DeploymentWatch(self, deployment_id, agent, version, strategy)
        self.active[deployment_id] = watch
        return watch

    def set_versions(self, agent: str, shares: Mapping[str, float]) -> None:
        """Which versions of ``agent`` serve now (``caxton_agent_version_active``)."""
        self.versions[agent] = dict(shares)

    def in_progress(self) -> list[dict[str, Any]]:
        return [w.describe() for w in self.active.values()]


class DeploymentWatch:
    """One deployment seen from outside: its span tree, its log lines, its figures."""

    def __init__(self, owner: Deployments, deployment_id: str, agent: str, version: str,
                 strategy: str) -> None:
        self._owner = owner
        self.deployment_id = deployment_id
        self.agent = agent
        self.version = version
        self.strategy = strategy
        self.started = time.monotonic()
        self.started_at = time.time()
        self.stage_name = "validation"
        self.percentage: float = 0.0
        self.metrics: dict[str, Any] = {}
        self._root = tracing.start_span("deployment.create", {
            "deployment.id": deployment_id, "agent": agent, "version": version,
            "strategy": strategy})
        self._log("deployment started")

    def _log(self, message: str, level: int = logging.INFO, **extra: Any) -> None:
        event(log, level, message, deployment_id=self.deployment_id, agent_id=self.agent,
              version=self.version, stage=self.stage_name, percentage=self.percentage,
              metrics=self.metrics, **extra)

    def validation(self, stage: str, seconds: float, passed: bool = True) -> None:
        """A validation stage ran (``static``, ``sandbox``, ``contracts``, ...)."""
        self._owner.validation_times.setdefault(stage, Histogram()).observe(seconds)
        tracing.record_span(f"validation.{stage}", seconds, {"passed": passed},
                            parent=self._root)
        self.stage_name = f"validation.{stage}"
        self._log(f"validation {stage} {'passed' if passed else 'failed'}",
                  logging.INFO if passed else logging.WARNING, seconds=round(seconds, 6))

    @contextlib.contextmanager
    def stage(self, name: str, percentage: float | None = None) -> Iterator[Any]:
        """A traffic stage, e.g. ``canary`` at 5 %: span ``canary.5_percent``."""
        self.stage_name = name
        if percentage is not None:
            self.percentage = percentage
        label = f"{name}.{percentage:g}_percent" if percentage is not None else name
        self._log(f"stage {label}")
        with tracing.span(label, {"percentage": self.percentage}, parent=self._root) as s:
            yield s

    def progress(self, stage: str, percentage: float, metrics: Mapping[str, Any]) -> None:
        """The figures a stage is judged on, as it goes."""
        self.stage_name, self.percentage, self.metrics = stage, percentage, dict(metrics)
        self._log("deployment progress")

    def rollback(self, reason: str) -> None:
        self._owner.rollbacks[reason] += 1
        self._log(f"rollback: {reason}", logging.WARNING, reason=reason)

    @contextlib.contextmanager
    def finalize(self) -> Iterator[Any]:
        self.stage_name = "finalize"
        with tracing.span("deployment.finalize", parent=self._root) as s:
            yield s

    def end(self, status: str) -> None:
        """Over: ``success``, ``failed`` or ``rolled_back``."""
        seconds = time.monotonic() - self.started
        self._owner.durations.setdefault((self.strategy, status), Histogram()).observe(seconds)
        self._owner.active.pop(self.deployment_id, None)
        self.stage_name = "done"
        self._log(f"deployment {status}", status=status, seconds=round(seconds, 3))
        tracing.end_span(self._root, status=status)

    def describe(self) -> dict[str, Any]:
        return {"id": self.deployment_id, "agent": self.agent, "version": self.version,
                "strategy": self.strategy, "stage": self.stage_name,
                "percentage": self.percentage, "metrics": self.metrics,
                "elapsed_s": time.monotonic() - self.started}
