"""The PyModules tracing API: traces with nested spans, a correlation id, and an exporter hook.

::

    tracer = Tracer(service_name="orders", export_func=send)
    with tracer.trace("process_order", correlation_id="order-123") as ctx:
        with ctx.span("validate"):
            ...
    ctx.to_dict()

``export_func(trace_dict)`` is called once per finished trace (an exporter that raises is logged, never
propagated). When a host has tracing enabled, every event gets ``event.meta["correlation_id"]`` (the
invocation's correlation id, carried by Plugwork's context and logs), and, if the current tracer has an
exporter, one trace per event. ``get_tracer``/``set_tracer`` keep one process-wide tracer: the seed's API.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..context import new_correlation_id
from ..observability.logging import get_logger
from ..observability.span_export import OpenTelemetryExporter  # the seed's name for the bridge

log = get_logger("plugwork.events.tracing")
Exporter = Callable[[dict[str, Any]], Any]
MAX_SPANS = 1000  # a runaway loop opening spans must not grow a trace without bound


@dataclass(slots=True)
class Span:
    """One timed step of a trace."""

    name: str
    span_id: str
    parent_id: str | None
    start: float
    end: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_ms(self) -> float | None:
        return None if self.end is None else (self.end - self.start) * 1000

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "start": self.start,
            "end": self.end,
            "duration_ms": self.duration_ms,
            "attributes": self.attributes,
            "error": self.error,
        }


class TraceContext:
    """A trace in progress: its ids, its root span and the spans opened with :meth:`span`."""

    def __init__(self, name: str, correlation_id: str, service_name: str) -> None:
        self.name = name
        self.correlation_id = correlation_id
        self.trace_id = new_correlation_id()
        self.service_name = service_name
        self.root = Span(name, new_correlation_id()[:16], None, time.time())
        self.spans: list[Span] = []
        self.dropped_spans = 0
        self._stack: list[Span] = [self.root]

    @contextlib.contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        """Time a nested step; an exception is recorded on the span and re-raised."""
        span = Span(name, new_correlation_id()[:16], self._stack[-1].span_id, time.time(), None, attributes)
        if len(self.spans) < MAX_SPANS:
            self.spans.append(span)
        else:
            self.dropped_spans += 1
        self._stack.append(span)
        try:
            yield span
        except BaseException as exc:
            span.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            span.end = time.time()
            self._stack.pop()

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain data (what the exporter receives)."""
        return {
            "trace_id": self.trace_id,
            "correlation_id": self.correlation_id,
            "service_name": self.service_name,
            **self.root.to_dict(),
            "spans": [s.to_dict() for s in self.spans],
            "dropped_spans": self.dropped_spans,
        }


class Tracer:
    """Starts traces; hands each finished one to ``export_func`` (if any)."""

    def __init__(self, service_name: str = "plugwork", export_func: Exporter | None = None) -> None:
        self.service_name = service_name
        self.export_func = export_func

    @contextlib.contextmanager
    def trace(
        self, name: str, correlation_id: str | None = None, **attributes: Any
    ) -> Iterator[TraceContext]:
        """A trace named ``name``; ``correlation_id`` defaults to a fresh one."""
        ctx = TraceContext(name, correlation_id or new_correlation_id(), self.service_name)
        ctx.root.attributes.update(attributes)
        try:
            yield ctx
        except BaseException as exc:
            ctx.root.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            ctx.root.end = time.time()
            self.export(ctx)

    def export(self, ctx: TraceContext) -> None:
        """Give a finished trace to the exporter (else the process's default one, set by the tracing
        plugin while OpenTelemetry is on); its failures are logged, not raised."""
        export_func = self.export_func or _default_export
        if export_func is None:
            return
        try:
            export_func(ctx.to_dict())
        except Exception as exc:
            log.warning("trace export failed", error=f"{type(exc).__name__}: {exc}")


_lock = threading.Lock()
_tracer: Tracer | None = None
_default_export: Exporter | None = None


def set_default_exporter(export_func: Exporter | None) -> None:
    """The exporter of tracers created without one (the tracing plugin's OpenTelemetry bridge sets it).

    A host records one trace per event only for a tracer with its own ``export_func``: with the default
    one, only the traces code opens itself (``tracer.trace()``) are exported, next to the invocation spans.
    """
    global _default_export
    _default_export = export_func


def get_tracer() -> Tracer:
    """The process-wide tracer (a default one, without exporter, until :func:`set_tracer`)."""
    global _tracer
    tracer = _tracer
    if tracer is not None:
        return tracer
    with _lock:
        if _tracer is None:
            _tracer = Tracer()
        return _tracer


def set_tracer(tracer: Tracer | None) -> None:
    """Replace the process-wide tracer (None restores the default)."""
    global _tracer
    with _lock:
        _tracer = tracer


__all__ = [
    "OpenTelemetryExporter",
    "Span",
    "TraceContext",
    "Tracer",
    "get_tracer",
    "set_default_exporter",
    "set_tracer",
]
