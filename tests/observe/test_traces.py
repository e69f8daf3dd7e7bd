"""Spans, with the OpenTelemetry SDK's in-memory exporter: ADR-0008's deployment tree,
validation stages of a real validation report, and sampled message spans."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from caxton.observe import Observer
from caxton.observe.deploy import Deployments
from caxton.wasm import example_path, validate

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_deployment_span_tree_logs_and_figures(spans, caplog) -> None:
    deployments = Deployments()
    with caplog.at_level(logging.INFO, logger="caxton.deploy"):
        watch = deployments.begin("dep-123", agent="processor", version="v2",
                                  strategy="canary")
        assert [d["id"] for d in deployments.in_progress()] == ["dep-123"]
        for stage, seconds in (("static", 0.3), ("sandbox", 2.1), ("contracts", 0.5)):
            watch.validation(stage, seconds)
        with watch.stage("canary", percentage=5):
            watch.progress("canary", 5, {"error_rate": 0.01, "p99_latency_ms": 12})
        with watch.stage("canary", percentage=25):
            pass
        with watch.finalize():
            pass
        watch.end("success")
    found = _by_name(spans)
    root = found["deployment.create"]
    assert root.parent is None and root.attributes["strategy"] == "canary"
    for child in ("validation.static", "validation.sandbox", "validation.contracts",
                  "canary.5_percent", "canary.25_percent", "deployment.finalize"):
        assert found[child].parent.span_id == root.context.span_id, child
    sandbox = found["validation.sandbox"]
    assert (sandbox.end_time - sandbox.start_time) == pytest.approx(2.1e9, rel=1e-3)
    assert root.attributes["status"] == "success"
    # figures: duration by strategy and status, validation time by stage
    assert deployments.durations[("canary", "success")].count == 1
    assert deployments.validation_times["sandbox"].total_seconds == pytest.approx(2.1)
    assert deployments.in_progress() == []
    # logs in ADR-0008's shape
    progress = next(r for r in caplog.records if r.getMessage() == "deployment progress")
    fields = progress.caxton_fields
    assert fields["deployment_id"] == "dep-123" and fields["agent_id"] == "processor"
    assert fields["version"] == "v2" and fields["stage"] == "canary"
    assert fields["percentage"] == 5 and fields["metrics"]["p99_latency_ms"] == 12


def test_rollback_counts_by_reason(spans) -> None:
    deployments = Deployments()
    watch = deployments.begin("dep-9", agent="a", version="v3", strategy="blue_green")
    watch.rollback("high_error_rate")
    watch.end("rolled_back")
    assert deployments.rollbacks == {"high_error_rate": 1}
    assert _by_name(spans)["deployment.create"].attributes["status"] == "rolled_back"


def _observer(tmp_path) -> Observer:
    store = SimpleNamespace(commit=lambda: True)  # the observer only wraps commit here
    return Observer(name="n1", registry={}, store=store, data_dir=tmp_path, started=0.0,
                    trace_every=1)


def test_validation_stages_become_spans(spans, tmp_path) -> None:
    report = validate(example_path("counter"))
    _observer(tmp_path).validated("counter", report)
    found = _by_name(spans)
    root = found["agent.validate"]
    assert root.attributes["agent"] == "counter" and root.attributes["passed"] is True
    for stage in ("structure", "policy", "exports", "sandbox", "resources"):
        span = found[f"validation.{stage}"]
        assert span.parent.span_id == root.context.span_id
        assert span.start_time >= root.start_time - 1000


def test_messages_are_sampled(spans, tmp_path) -> None:
    observer = _observer(tmp_path)
    from caxton.node.lifecycle import Lifecycle
    from caxton.node.records import AgentRecord
    from caxton.node.spec import AgentSpec

    rec = AgentRecord(spec=AgentSpec(name="echo", module_sha256="0" * 64),
                      lifecycle=Lifecycle(on_transition=lambda t: None))
    ack = (7, "ok", "", b"hi", [], 120)
    # [memory, fuel, logs_dropped, sends_refused, sum_ns, bucket, count]
    observer.acked(rec, [ack], [65536, 120, 0, 0, 40_000, 2, 1])
    (span,) = spans.get_finished_spans()
    assert span.name == "message.handle"
    assert span.attributes["agent"] == "echo" and span.attributes["message.id"] == 7
    assert (span.end_time - span.start_time) == pytest.approx(40_000, abs=2)
    assert observer.figures[rec].times.count == 1
