""":class:`TracingPlugin`: OpenTelemetry for an app — the SDK, the tracing middleware, the trace carrier.

Enabled when a traces or logs endpoint is set (see :class:`TracingSettings`). At each app start, in the
process that serves (so after any fork: ``plugwork run``, ``plugwork worker``), it builds this process's
:class:`OtelRuntime`, adds the one :class:`TracingMiddleware` and the :class:`TraceCarrier`, opens a
PRODUCER span around each enqueue, puts ``trace_id``/``span_id`` on every log line written inside a span,
and forwards log events to OTLP when a logs endpoint is set. The runtime is a service, so it is flushed
after every transport has stopped (within ``shutdown_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..errors import DependencyError
from ..plugins import AppInit, Component, Plugin
from ..services import Service
from . import logging as pw_logging
from .tracing_settings import TracingSettings

# Every app imports this module (a built-in plugin), enabled or not: the tracing modules are imported by
# the hooks of an enabled plugin, never here.
if TYPE_CHECKING:
    from ..app import App
    from .otel import OtelRuntime


class OtelService(Service):
    """Holds this process's :class:`OtelRuntime`; stopping it flushes and shuts the exporters down."""

    name = "tracing"
    required = False

    def __init__(self, runtime: OtelRuntime) -> None:
        self.runtime = runtime

    async def stop(self) -> None:
        pw_logging.set_trace_hooks(None)
        from ..events.tracing import set_default_exporter

        set_default_exporter(None)
        # The flush is blocking network I/O, bounded by shutdown_timeout_seconds: off the event loop.
        await asyncio.to_thread(self.runtime.shutdown)


class TracingPlugin(Plugin):
    """OpenTelemetry traces and OTLP log export (``plugins.tracing:``; ``OTEL_*`` variables)."""

    name = "tracing"
    settings_model = TracingSettings

    def __init__(self, *, span_exporter: Any = None, **overrides: Any) -> None:
        super().__init__(**overrides)
        # An SDK SpanExporter to use instead of OTLP (benchmarks, an in-process collector).
        self._span_exporter = span_exporter
        self.runtime: OtelRuntime | None = None

    def enabled(self, app: App) -> bool:
        config: TracingSettings = self.config
        return config.tracing_on or config.logs_on

    def on_app_init(self, init: AppInit) -> None:
        from .otel import OtelRuntime
        from .otel_logs import StructlogExporter
        from .tracing import TraceCarrier, TracingMiddleware, trace_ids_source

        config: TracingSettings = self.config
        app = init.app
        runtime = self.runtime = OtelRuntime(
            config, app.name, app.settings.version, span_exporter=self._span_exporter
        )
        init.add_service(OtelService(runtime))
        if runtime.recorder is not None:
            init.add_middleware(TracingMiddleware(runtime.recorder, config, app.name))
            init.add_carrier(TraceCarrier())
        sink = StructlogExporter(runtime.logger) if runtime.logger is not None else None
        pw_logging.set_trace_hooks(trace_ids_source() if config.tracing_on else None, sink)
        if runtime.recorder is not None:
            from ..events.tracing import set_default_exporter
            from .span_export import OpenTelemetryExporter

            # The PyModules Tracer API: traces of tracers without an exporter of their own become spans.
            set_default_exporter(OpenTelemetryExporter(runtime.tracer).export)

    async def start(self, app: App) -> Component | None:
        from ..queue.client import JobQueue
        from .tracing import PublishSpans

        runtime = self.runtime
        if runtime is not None and runtime.recorder is not None:
            try:
                queue = app.get(JobQueue)
            except DependencyError:  # no job queue in this app
                return None
            queue.publish_hook = PublishSpans(runtime.recorder)
        return None
