""":class:`SpanRecorder`: Plugwork's own spans, fed straight to the SDK's batch span processor.

Measured on the HTTP path (bench/tracing.py and a dispatcher loop): the SDK's ``Tracer.start_span`` costs
~60-70 µs per span on this machine — attribute validation through ``BoundedAttributes``, locks, and
``Span.__init__``'s bookkeeping — twice the whole budget of the +40 µs goal. The recorder keeps everything
that matters from the SDK (its sampler decides, its ``BatchSpanProcessor`` and OTLP exporter ship the
spans, the API's context makes the span current) and replaces only the span object: a slotted one that
implements the OpenTelemetry ``Span`` API (``set_attribute``, ``add_event``, ``record_exception``,
``set_status``...) and becomes an SDK ``ReadableSpan`` at ``end()``. Attribute values are checked by type
as they are set (str, bool, int, float, or a sequence of them; anything else is stored as ``str()``).
A span the sampler drops is the API's ``NonRecordingSpan``: ids for propagation, nothing else.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..extras import require

_getrandbits = random.getrandbits  # the SDK's RandomIdGenerator draws ids the same way
Decide = Callable[[Any, int], bool]
"""(the parent's span context or None, the trace id) -> sampled: a sampler's decision, for samplers that
need nothing else (see :func:`plugwork.observability.otel.sampling_decision`)."""
MAX_ATTRIBUTES = 128
MAX_EVENTS = 128
_PRIMITIVES = (str, bool, int, float)


def _clean(value: Any) -> Any:
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, _PRIMITIVES) for v in value):
        return tuple(value)
    return str(value)


class SpanRecorder:
    """Starts spans of one runtime: its sampler decides, its span processor receives the finished ones."""

    def __init__(
        self,
        sampler: Any,
        processor: Any,
        resource: Any,
        scope_name: str = "plugwork",
        *,
        decide: Decide | None = None,
    ) -> None:
        trace = require("opentelemetry.trace", extra="otel")
        sdk_trace = require("opentelemetry.sdk.trace", extra="otel")
        util = require("opentelemetry.sdk.util.instrumentation", extra="otel")
        self._trace = trace
        self._context = require("opentelemetry.context", extra="otel")
        self._sampler = sampler
        self._processor = processor
        self._resource = resource
        self._scope = util.InstrumentationScope(scope_name)
        self._readable = sdk_trace.ReadableSpan
        self._event = sdk_trace.Event
        self._span_context = trace.SpanContext
        self._non_recording = trace.NonRecordingSpan
        random_id, sampled = trace.TraceFlags.RANDOM_TRACE_ID, trace.TraceFlags.SAMPLED
        # By (random trace id, sampled): a continued trace keeps its parent's "random" flag (W3C level 2).
        self._flags = {
            (r, s): trace.TraceFlags((random_id if r else 0) | (sampled if s else 0))
            for r in (False, True)
            for s in (False, True)
        }
        self._unset = trace.Status(trace.StatusCode.UNSET)
        self._span_type = _span_type(trace)
        # Bound once: start() runs for every invocation, sampled or not.
        self._get_current = self._context.get_current
        self._should_sample = sampler.should_sample
        self._decide = decide
        self._span_key = require("opentelemetry.trace.propagation", extra="otel")._SPAN_KEY
        self._otel_context = self._context.Context
        runtime: Any = getattr(self._context, "_RUNTIME_CONTEXT", None)
        contextvars_runtime = require("opentelemetry.context.contextvars_context", extra="otel")
        # The API's attach/detach are three calls deep each; with the default runtime they set and reset
        # its ContextVar, which this does directly (any other runtime goes through the API).
        self._current: Any = (
            runtime._current_context
            if type(runtime) is contextvars_runtime.ContextVarsRuntimeContext
            else None
        )

    def attach(self, span: Any, parent: Any) -> Any:
        """Make ``span`` current in a copy of the OpenTelemetry context ``parent``; returns the token that
        :meth:`detach` takes (the API's ``attach(set_span_in_context(span, parent))``)."""
        values = parent.copy()
        values[self._span_key] = span
        context = self._otel_context(values)
        current = self._current
        return current.set(context) if current is not None else self._context.attach(context)

    def detach(self, token: Any) -> None:
        """Restore the context that :meth:`attach` replaced."""
        current = self._current
        if current is not None:
            current.reset(token)
        else:
            self._context.detach(token)

    def start(
        self,
        name: str,
        kind: Any,
        attributes: dict[str, Any] | Callable[[], dict[str, Any]],
        parent: Any = None,
        links: Sequence[Any] = (),
    ) -> Any:
        """A started span (recording or not); ``parent`` is an OpenTelemetry context (None: the current).

        ``attributes`` may be a function, called only when the span records (the sampler then sees none:
        the samplers built from the settings do not look at them).
        """
        if parent is None:
            parent = self._get_current()
        current = parent.get(self._span_key)  # the API's get_current_span(parent), without its two calls
        parent_span = current.get_span_context() if current is not None else None
        if parent_span is not None and parent_span.is_valid:
            trace_id = parent_span.trace_id
            random_id = bool(parent_span.trace_flags & 0x02)
        else:
            trace_id = _getrandbits(128) or 1
            parent_span, random_id = None, True
        decide = self._decide
        extra: Any = None  # attributes the SDK's sampler adds
        if decide is not None:
            sampled = recording = decide(parent_span, trace_id)
            state = parent_span.trace_state if parent_span is not None else None
        else:
            given = None if callable(attributes) else attributes
            result = self._should_sample(parent, trace_id, name, kind, given, links)
            sampled, recording = result.decision.is_sampled(), result.decision.is_recording()
            state, extra = result.trace_state, result.attributes
        context = self._span_context(
            trace_id, _getrandbits(64) or 1, False, self._flags[random_id, sampled], state
        )
        if not (sampled or recording):
            return self._non_recording(context)
        values = attributes() if callable(attributes) else attributes
        if extra:
            values = {**values, **extra}
        return self._span_type(self, name, context, parent_span, kind, values, tuple(links))

    def _finish(self, span: Any) -> None:
        readable = self._readable(
            span.name,
            span.context,
            span.parent,
            self._resource,
            span.attributes,
            span.events,
            span.links,
            span.kind,
            None,
            span.status or self._unset,
            span.start_time,
            span.end_time,
            self._scope,
        )
        self._processor.on_end(readable)


_SPAN_TYPE: type | None = None


def _span_type(trace: Any) -> type:
    """The recording span class, built once (its base class comes from the optional package)."""
    global _SPAN_TYPE
    if _SPAN_TYPE is not None:
        return _SPAN_TYPE

    class RecordingSpan(trace.Span):  # type: ignore[misc]
        """One invocation's span (see the module docstring)."""

        __slots__ = (
            "attributes",
            "context",
            "end_time",
            "events",
            "kind",
            "links",
            "name",
            "parent",
            "recorder",
            "start_time",
            "status",
        )

        def __init__(
            self,
            recorder: SpanRecorder,
            name: str,
            context: Any,
            parent: Any,
            kind: Any,
            attributes: dict[str, Any],
            links: tuple[Any, ...],
        ) -> None:
            self.recorder = recorder
            self.name = name
            self.context = context
            self.parent = parent
            self.kind = kind
            self.attributes = attributes
            self.links = links
            self.events: list[Any] = []
            self.status: Any = None
            self.start_time = time.time_ns()
            self.end_time: int | None = None

        def get_span_context(self) -> Any:
            return self.context

        def is_recording(self) -> bool:
            return self.end_time is None

        def set_attribute(self, key: str, value: Any) -> None:
            if self.end_time is None and (key in self.attributes or len(self.attributes) < MAX_ATTRIBUTES):
                self.attributes[key] = _clean(value)

        def set_attributes(self, attributes: Mapping[str, Any]) -> None:
            for key, value in attributes.items():
                self.set_attribute(key, value)

        def add_event(self, name: str, attributes: Any = None, timestamp: int | None = None) -> None:
            if self.end_time is None and len(self.events) < MAX_EVENTS:
                clean = {k: _clean(v) for k, v in (attributes or {}).items()}
                self.events.append(self.recorder._event(name, clean, timestamp or time.time_ns()))

        def update_name(self, name: str) -> None:
            if self.end_time is None:
                self.name = name

        def set_status(self, status: Any, description: str | None = None) -> None:
            if self.end_time is not None:
                return
            if isinstance(status, trace.Status):
                self.status = status
            else:
                self.status = trace.Status(status, description)

        def record_exception(
            self,
            exception: BaseException,
            attributes: Any = None,
            timestamp: int | None = None,
            escaped: bool = False,
        ) -> None:
            details = {
                "exception.type": type(exception).__qualname__,
                "exception.message": str(exception),
                "exception.stacktrace": "".join(traceback.format_exception(exception)),
                **(attributes or {}),
            }
            self.add_event("exception", details, timestamp)

        def end(self, end_time: int | None = None) -> None:
            if self.end_time is None:
                self.end_time = end_time or time.time_ns()
                self.recorder._finish(self)

    _SPAN_TYPE = RecordingSpan
    return RecordingSpan
