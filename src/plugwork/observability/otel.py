"""The OpenTelemetry SDK for one process: a tracer provider, an OTLP span exporter, optional log export.

:class:`OtelRuntime` is built when an app (or the hub) starts — in the process that serves, so after any
fork: a ``BatchSpanProcessor`` made before a fork would hold a dead export thread in the child — and
flushed and shut down, within ``shutdown_timeout_seconds``, when it stops. The provider is the runtime's
own (Plugwork's spans never depend on the global one); it also becomes the global provider if none was set,
so that ``opentelemetry.trace.get_tracer()`` in user code joins the same traces.

An app can start, stop and start again, but OpenTelemetry's global provider can be set only once per
process: the global one is therefore a small delegating provider that sends each span to the runtime
running now (see :func:`active_runtime`), and to a no-op tracer between runs.
"""

from __future__ import annotations

import threading
from typing import Any

from ..extras import require
from .otlp_http import OTLPHttpSpanExporter
from .spans import Decide, SpanRecorder
from .tracing_settings import TracingSettings

SCOPE = "plugwork"
_lock = threading.Lock()
_active: OtelRuntime | None = None
_installed = False


def active_runtime() -> OtelRuntime | None:
    """The runtime of the app (or hub) running in this process now, if tracing is on."""
    return _active


def _install_global_provider() -> None:
    """Make the global provider delegate to the active runtime (once per process)."""
    global _installed
    trace_api = require("opentelemetry.trace", extra="otel")
    with _lock:
        if _installed:
            return
        _installed = True
        if not isinstance(trace_api.get_tracer_provider(), trace_api.ProxyTracerProvider):
            return  # the user set their own provider: leave it alone

        class _ActiveTracer(trace_api.Tracer):  # type: ignore[misc,name-defined]
            def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
                self._args, self._kwargs = args, kwargs

            def _tracer(self) -> Any:
                runtime = _active
                if runtime is None:
                    return trace_api.NoOpTracer()
                return runtime.provider.get_tracer(*self._args, **self._kwargs)

            def start_span(self, *args: Any, **kwargs: Any) -> Any:
                return self._tracer().start_span(*args, **kwargs)

            def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
                return self._tracer().start_as_current_span(*args, **kwargs)

        class _ActiveProvider(trace_api.TracerProvider):  # type: ignore[misc,name-defined]
            def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
                return _ActiveTracer(args, kwargs)

        trace_api.set_tracer_provider(_ActiveProvider())


def _sampler(settings: TracingSettings) -> Any:
    sampling = require("opentelemetry.sdk.trace.sampling", extra="otel")
    name, arg = settings.sampler, settings.sampler_arg
    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(arg),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root


def sampling_decision(settings: TracingSettings) -> Decide:
    """The decision of the sampler :func:`_sampler` builds, as one small function of (parent span context
    or None, trace id) -> sampled.

    The SDK's ``should_sample`` costs ~0.85 µs a call (a ParentBased delegating, a SamplingResult, the
    parent's trace state looked up again), run for every invocation, sampled or not: the samplers the
    settings name have no attributes and no state, so the same rule is applied here directly — a sampled
    parent is followed, an unsampled one too, and a root span is sampled when the low 64 bits of its trace
    id fall under the ratio's bound (the SDK's own ``TraceIdRatioBased`` rule and bound, checked against
    the SDK sampler in the tests).
    """
    sampling = require("opentelemetry.sdk.trace.sampling", extra="otel")
    name, arg = settings.sampler, settings.sampler_arg
    root_name = name.removeprefix("parentbased_")
    if root_name == "traceidratio":
        bound = sampling.TraceIdRatioBased.get_bound_for_rate(arg)
        limit = sampling.TraceIdRatioBased.TRACE_ID_LIMIT

        def root(trace_id: int) -> bool:
            return bool(trace_id & limit < bound)

    else:
        constant = root_name == "always_on"

        def root(trace_id: int) -> bool:
            return constant

    if not name.startswith("parentbased_"):
        return lambda parent, trace_id: root(trace_id)

    def parent_based(parent: Any, trace_id: int) -> bool:
        if parent is None:
            return root(trace_id)
        return bool(parent.trace_flags & 0x01)

    return parent_based


def _span_exporter(settings: TracingSettings) -> Any:
    endpoint, headers = settings.signal_endpoint("traces"), settings.export_headers()
    timeout = settings.export_timeout_seconds
    if settings.protocol == "grpc":
        grpc = require("opentelemetry.exporter.otlp.proto.grpc.trace_exporter", extra="otel")
        return grpc.OTLPSpanExporter(
            endpoint=endpoint or None,
            insecure=settings.insecure,
            headers=headers,
            timeout=timeout,
            compression=_compression(settings, grpc=True),
        )
    if settings.fast_exporter and endpoint:
        return OTLPHttpSpanExporter(endpoint, headers, timeout, settings.compression)
    http = require("opentelemetry.exporter.otlp.proto.http.trace_exporter", extra="otel")
    return http.OTLPSpanExporter(
        endpoint=endpoint or None, headers=headers, timeout=timeout, compression=_compression(settings)
    )


def _compression(settings: TracingSettings, *, grpc: bool = False) -> Any:
    if settings.compression != "gzip":
        return None
    if grpc:
        return require("grpc", extra="otel").Compression.Gzip
    return require("opentelemetry.exporter.otlp.proto.http", extra="otel").Compression.Gzip


def _log_exporter(settings: TracingSettings) -> Any:
    endpoint, headers = settings.signal_endpoint("logs"), settings.export_headers()
    timeout = settings.export_timeout_seconds
    if settings.protocol == "grpc":
        grpc = require("opentelemetry.exporter.otlp.proto.grpc._log_exporter", extra="otel")
        return grpc.OTLPLogExporter(
            endpoint=endpoint or None,
            insecure=settings.insecure,
            headers=headers,
            timeout=timeout,
            compression=_compression(settings, grpc=True),
        )
    http = require("opentelemetry.exporter.otlp.proto.http._log_exporter", extra="otel")
    return http.OTLPLogExporter(
        endpoint=endpoint or None, headers=headers, timeout=timeout, compression=_compression(settings)
    )


class OtelRuntime:
    """This process's tracer (and logger) provider, built from :class:`TracingSettings`."""

    def __init__(
        self, settings: TracingSettings, service_name: str, version: str = "", span_exporter: Any = None
    ) -> None:
        sdk_trace = require("opentelemetry.sdk.trace", extra="otel")
        export = require("opentelemetry.sdk.trace.export", extra="otel")
        resources = require("opentelemetry.sdk.resources", extra="otel")
        self.settings = settings
        attributes = {"service.name": settings.service_name or service_name}
        if version:
            attributes["service.version"] = version
        self.resource = resources.Resource.create(attributes)
        sampler = _sampler(settings)
        self.provider = sdk_trace.TracerProvider(resource=self.resource, sampler=sampler)
        self.recorder: SpanRecorder | None = None
        """Plugwork's own spans (see :mod:`plugwork.observability.spans`); None when tracing is off."""
        if settings.tracing_on:
            exporter = span_exporter if span_exporter is not None else _span_exporter(settings)
            processor = export.BatchSpanProcessor(
                exporter,
                max_queue_size=settings.max_queue_size,
                export_timeout_millis=settings.export_timeout_seconds * 1000,
            )
            self.provider.add_span_processor(processor)  # user spans (trace.get_tracer()) go there too
            self.recorder = SpanRecorder(
                sampler, processor, self.resource, SCOPE, decide=sampling_decision(settings)
            )
        self.tracer = self.provider.get_tracer(SCOPE)
        _install_global_provider()
        self.logger: Any = None
        self._log_provider: Any = None
        if settings.logs_on:
            logs_sdk = require("opentelemetry.sdk._logs", extra="otel")
            logs_export = require("opentelemetry.sdk._logs.export", extra="otel")
            self._log_provider = logs_sdk.LoggerProvider(resource=self.resource)
            self._log_provider.add_log_record_processor(
                logs_export.BatchLogRecordProcessor(
                    _log_exporter(settings), max_queue_size=settings.max_queue_size
                )
            )
            self.logger = self._log_provider.get_logger(SCOPE)
        global _active
        _active = self

    def shutdown(self) -> None:
        """Export what is buffered (bounded by ``shutdown_timeout_seconds``), then stop the exporters."""
        global _active
        if _active is self:
            _active = None
        millis = int(self.settings.shutdown_timeout_seconds * 1000)
        self.provider.force_flush(millis)
        self.provider.shutdown()
        if self._log_provider is not None:
            self._log_provider.force_flush(millis)
            self._log_provider.shutdown()
