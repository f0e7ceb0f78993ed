"""Spans in the hub: one SERVER span per producer request, whose context goes on to the consumer.

Built at hub start (in the serving process, after any fork) from the standard ``OTEL_*`` variables, when
they turn tracing on (:class:`~plugwork.observability.tracing_settings.TracingSettings`); off, the hub
keeps ``hub.tracing = None`` and pays nothing. The producer's ``traceparent`` is the span's parent; the
carried headers sent to the consumer are rewritten with the hub span's own, so producer, hub and consumer
are one trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...extras import require
from ...observability.logging import set_trace_hooks
from ...observability.otel import OtelRuntime
from ...observability.tracing import trace_ids_source
from ...observability.tracing_settings import TracingSettings
from .router import HubError

SERVICE_NAME = "plugboard-hub"


class HubTracing:
    """The hub's tracer, and the span around routing one request."""

    def __init__(self, runtime: OtelRuntime) -> None:
        self.runtime = runtime
        self._trace = require("opentelemetry.trace", extra="otel")
        self._context = require("opentelemetry.context", extra="otel")
        composite = require("opentelemetry.propagators.composite", extra="otel")
        tracecontext = require("opentelemetry.trace.propagation.tracecontext", extra="otel")
        baggage = require("opentelemetry.baggage.propagation", extra="otel")
        self._propagator = composite.CompositePropagator(
            [tracecontext.TraceContextTextMapPropagator(), baggage.W3CBaggagePropagator()]
        )

    @classmethod
    def from_environment(cls) -> HubTracing | None:
        """Tracing for this hub process, or None when the environment leaves it off."""
        settings = TracingSettings()
        if not settings.tracing_on:
            return None
        tracing = cls(OtelRuntime(settings, SERVICE_NAME))
        set_trace_hooks(trace_ids_source())  # the hub's log lines inside a span carry its ids
        return tracing

    @contextmanager
    def span(self, service_id: str, action: str, carried: dict[str, str]) -> Iterator[Any]:
        """A SERVER span for routing ``action`` to ``service_id``; ``carried`` gets its context."""
        trace = self._trace
        parent = self._propagator.extract(carried)
        attributes = {
            "rpc.system": "plugboard",
            "rpc.service": service_id,
            "rpc.method": action,
            "http.request.method": "POST",
            "http.route": "/",
        }
        assert self.runtime.recorder is not None  # built only when tracing is on
        span = self.runtime.recorder.start(
            f"{service_id}/{action}", trace.SpanKind.SERVER, attributes, parent
        )
        token = self._context.attach(trace.set_span_in_context(span, parent))
        try:
            self._propagator.inject(carried)
            yield span
        except HubError as error:
            span.set_attribute("error.type", error.outcome)
            span.set_attribute("http.response.status_code", error.status)
            span.set_status(trace.Status(trace.StatusCode.ERROR, error.outcome))
            raise
        except BaseException as exc:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            self._context.detach(token)
            span.end()

    def answered(self, span: Any, status_code: int) -> None:
        """Record the consumer's answer on the request's span."""
        span.set_attribute("http.response.status_code", status_code)
        if status_code >= 500:
            self._trace_error(span, str(status_code))

    def _trace_error(self, span: Any, reason: str) -> None:
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, reason))

    def shutdown(self) -> None:
        """Flush and stop the exporter (bounded by the settings' shutdown timeout)."""
        set_trace_hooks(None)
        self.runtime.shutdown()
