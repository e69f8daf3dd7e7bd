"""The Prometheus series, rendered with ``prometheus-client`` from the latest ``View``.

Names follow the production guide and ADR-0008 (``caxton_wasm_*``,
``caxton_agent_*``, ``caxton_deployment_*``); every series an agent has is
labelled ``agent``. The collector reads only the immutable view, so a scrape
never touches the loop's objects; families without samples yet (the
deployment series before the first deployment) are still declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from caxton.observe.observer import View

__all__ = ["SERIES", "ViewCollector", "registry_for"]

#: every family this module exposes (the docs and the tests check against it)
SERIES = (
    "caxton_agent_response_duration_seconds",
    "caxton_wasm_memory_bytes",
    "caxton_wasm_memory_limit_bytes",
    "caxton_wasm_fuel_consumed_total",
    "caxton_wasm_security_violations_total",
    "caxton_wasm_agent_restarts_total",
    "caxton_agent_version_active",
    "caxton_agent_instances",
    "caxton_agent_messages_total",
    "caxton_agent_mailbox_depth",
    "caxton_dead_letters_total",
    "caxton_agent_down_total",
    "caxton_agents",
    "caxton_journal_commit_duration_seconds",
    "caxton_validations_total",
    "caxton_deployment_duration_seconds",
    "caxton_deployment_validation_time_seconds",
    "caxton_deployment_rollback_total",
    "caxton_node_uptime_seconds",
)


def _histogram(name: str, doc: str, labels: list[str],
               data: dict[Any, tuple[list[tuple[str, int]], float]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for key, (buckets, total) in data.items():
        values = list(key) if isinstance(key, tuple) else [key] if labels else []
        family.add_metric(values, buckets, total)
    return family


class ViewCollector(Collector):
    """Yields the node's series from whatever ``view()`` returns (None: nothing yet)."""

    def __init__(self, view: Any) -> None:
        self._view = view

    def collect(self) -> Iterator[Metric]:
        view: View | None = self._view()
        if view is None:
            return
        agents = view.overview["agents"]
        yield _histogram("caxton_agent_response_duration_seconds",
                         "Time an agent took to handle a message (caxton_handle), by agent.",
                         ["agent"], view.histograms)

        def gauge(name: str, doc: str, key: str) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["agent"])
            for a in agents:
                family.add_metric([a["name"]], float(a[key]))
            return family

        def counter(name: str, doc: str, key: str) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["agent"])
            for a in agents:
                family.add_metric([a["name"]], float(a[key]))
            return family

        yield gauge("caxton_wasm_memory_bytes",
                    "Linear memory of the agent's current instance.", "memory_bytes")
        yield gauge("caxton_wasm_memory_limit_bytes",
                    "The agent's memory limit.", "memory_limit_bytes")
        yield counter("caxton_wasm_fuel_consumed",
                      "Fuel the agent's instances consumed.", "fuel_consumed_total")
        yield counter("caxton_wasm_security_violations",
                      "Sandbox refusals (fuel, memory, deadline, stack) and quota breaches.",
                      "violations")
        yield counter("caxton_wasm_agent_restarts",
                      "Instances replaced under the agent's restart policy.", "restarts")
        yield gauge("caxton_agent_instances", "Instances serving now.", "instances")
        yield gauge("caxton_agent_mailbox_depth",
                    "Messages queued or in flight to the agent.", "mailbox_depth")
        versions = GaugeMetricFamily("caxton_agent_version_active",
                                     "Share of the agent's traffic each version serves.",
                                     labels=["agent", "version"])
        messages = CounterMetricFamily("caxton_agent_messages",
                                       "Messages handled, by outcome (ok, error, dead_letter).",
                                       labels=["agent", "outcome"])
        for a in agents:
            for version, share in a["versions"].items():
                versions.add_metric([a["name"], version], float(share))
            for outcome, key in (("ok", "ok"), ("error", "errors"),
                                 ("dead_letter", "dead_letters")):
                messages.add_metric([a["name"], outcome], float(a[key]))
        yield versions
        yield messages
        dead = CounterMetricFamily("caxton_dead_letters",
                                   "Messages dead-lettered on the agent (killers and refused "
                                   "sends).", labels=["agent"])
        for name, count in view.dead_letters.items():
            dead.add_metric([name], float(count))
        yield dead
        downs = CounterMetricFamily("caxton_agent_down",
                                    "Instances gone, by agent and reason.",
                                    labels=["agent", "reason"])
        for (name, reason), count in view.downs.items():
            downs.add_metric([name, reason], float(count))
        yield downs
        states = GaugeMetricFamily("caxton_agents", "Agents by lifecycle state.",
                                   labels=["state"])
        for state, count in view.overview["states"].items():
            states.add_metric([state], float(count))
        yield states
        commit = HistogramMetricFamily("caxton_journal_commit_duration_seconds",
                                       "Time of one store commit (the journal's fsync point).")
        commit.add_metric([], view.commit[0], view.commit[1])
        yield commit
        validations = CounterMetricFamily("caxton_validations",
                                          "Module validations by result.", labels=["result"])
        for result, count in view.validations.items():
            validations.add_metric([result], float(count))
        yield validations
        yield _histogram("caxton_deployment_duration_seconds",
                         "Deployments from start to end, by strategy and final status.",
                         ["strategy", "status"], view.deployment_durations)
        yield _histogram("caxton_deployment_validation_time_seconds",
                         "Deployment validation stages, by stage.", ["stage"],
                         view.validation_times)
        rollbacks = CounterMetricFamily("caxton_deployment_rollback",
                                        "Deployments rolled back, by reason.", labels=["reason"])
        for reason, count in view.rollbacks.items():
            rollbacks.add_metric([reason], float(count))
        yield rollbacks
        uptime = GaugeMetricFamily("caxton_node_uptime_seconds", "Seconds since the node started.")
        uptime.add_metric([], float(view.overview["node"]["uptime_s"]))
        yield uptime


def registry_for(view: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ViewCollector(view))
    return registry
