"""OpenTelemetry spans, when the ``[otel]`` extra is installed and a provider is set.

Without ``opentelemetry`` (or with no tracer provider configured) every call
here is a cheap no-op, so the node and the deployment code call it
unconditionally. A node run with ``--traces console|otlp`` installs an SDK
provider itself (``install``); an embedder or a test may install its own
(e.g. with the SDK's in-memory exporter) before the node starts.

Spans:

* ``agent.spawn`` with ``validation.<stage>`` children (the validation
  pipeline's stages, with the durations the validator measured);
* ``deployment.create`` → ``validation.static`` / ``validation.sandbox`` /
  ``validation.contracts`` → one span per stage (``canary.5_percent``, ...) →
  ``deployment.finalize``, ADR-0008's tree, through ``caxton.observe.deploy``;
* ``message.handle``, sampled: one message in ``sample_every`` ack batches.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["available", "end_span", "install", "record_span", "span", "start_span", "tracer"]

_NAME = "caxton"


def available() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


def tracer() -> Any:
    """The ``caxton`` tracer when a real provider is installed, else None."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    return trace.get_tracer(_NAME)


def install(exporter: str) -> None:
    """Install an SDK provider exporting to ``console`` or ``otlp`` (OTEL_* env settings)."""
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise ValueError("traces need the otel extra: pip install 'caxton[otel]'") from None
    if exporter == "console":
        span_exporter: Any = ConsoleSpanExporter()
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ValueError("--traces otlp needs opentelemetry-exporter-otlp-proto-http "
                             "(pip install 'caxton[otel]')") from None
        span_exporter = OTLPSpanExporter()
    else:
        raise ValueError(f"unknown trace exporter {exporter!r} (console, otlp)")
    provider = TracerProvider(resource=Resource.create({"service.name": "caxton"}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)


def _context(parent: Any) -> Any:
    if parent is None:
        return None
    from opentelemetry import trace

    return trace.set_span_in_context(parent)


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None,
         parent: Any = None) -> Iterator[Any]:
    """A span around a block (None inside when tracing is off)."""
    t = tracer()
    if t is None:
        yield None
        return
    with t.start_as_current_span(name, context=_context(parent),
                                 attributes=dict(attributes or {})) as current:
        yield current


def start_span(name: str, attributes: Mapping[str, Any] | None = None,
               parent: Any = None, start_ns: int | None = None) -> Any:
    """A span the caller ends itself (``end_span``); None when tracing is off."""
    t = tracer()
    if t is None:
        return None
    return t.start_span(name, context=_context(parent), attributes=dict(attributes or {}),
                        start_time=start_ns)


def end_span(current: Any, end_ns: int | None = None, **attributes: Any) -> None:
    if current is None:
        return
    for key, value in attributes.items():
        current.set_attribute(key, value)
    current.end(end_time=end_ns)


def record_span(name: str, seconds: float, attributes: Mapping[str, Any] | None = None,
                parent: Any = None, end_ns: int | None = None) -> Any:
    """A span for something already measured (``seconds`` long, ending at ``end_ns``)."""
    t = tracer()
    if t is None:
        return None
    end = end_ns if end_ns is not None else time.time_ns()
    started = t.start_span(name, context=_context(parent), attributes=dict(attributes or {}),
                           start_time=end - int(seconds * 1e9))
    started.end(end_time=end)
    return started
