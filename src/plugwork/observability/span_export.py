"""The OpenTelemetry exporter hook for traces recorded by the PyModules ``Tracer`` API.

The PyModules tracer (:mod:`plugwork.events.tracing`) records its own spans and hands each finished trace
to an ``export_func(trace_dict)``. :class:`OpenTelemetryExporter` is such a function's owner::

    tracer = Tracer(service_name="orders", export_func=OpenTelemetryExporter().export)

Each finished trace is re-created as OpenTelemetry spans with its own timestamps, under the current
OpenTelemetry context (so, inside an action, they join the invocation's trace) and exported with the app's
spans. The dict is what ``TraceContext.to_dict()`` returns: the root span's ``name``, ``span_id``,
``start``, ``end`` (epoch seconds), ``attributes`` and ``error``, plus ``correlation_id`` and a flat list
``spans`` of the nested spans, each pointing at its parent with ``parent_id``. Nested ``children`` lists
are accepted too. Without the OpenTelemetry SDK configured the spans go to the API's no-op tracer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ..extras import require

MAX_DEPTH = 64
MAX_SPANS = 10_000


class OpenTelemetryExporter:
    """``export(trace_dict)``: replay a finished PyModules trace as OpenTelemetry spans (see above)."""

    def __init__(self, tracer: Any = None) -> None:
        self._trace = require("opentelemetry.trace", extra="otel")
        self._tracer = tracer

    def export(self, record: Mapping[str, Any]) -> None:
        """Re-create ``record`` and its spans under the current context (at most ``MAX_SPANS``)."""
        tracer = self._tracer or self._trace.get_tracer("plugwork.events")
        by_parent: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for span in record.get("spans") or ():
            if isinstance(span, Mapping):
                by_parent[span.get("parent_id")].append(span)
        extra = {}
        if record.get("correlation_id"):
            extra["plugwork.correlation_id"] = str(record["correlation_id"])
        self._emit(tracer, record, None, by_parent, 0, [0], extra)

    def _emit(
        self,
        tracer: Any,
        record: Mapping[str, Any],
        parent: Any,
        by_parent: dict[Any, list[Mapping[str, Any]]],
        depth: int,
        count: list[int],
        extra: dict[str, Any] | None = None,
    ) -> None:
        if depth >= MAX_DEPTH or count[0] >= MAX_SPANS:
            return
        count[0] += 1
        attributes = {str(k): _attribute(v) for k, v in (record.get("attributes") or {}).items()}
        attributes.update(extra or {})
        span = tracer.start_span(
            str(record.get("name") or "span"),
            context=parent,
            attributes=attributes,
            start_time=_nanos(record.get("start", record.get("start_time"))),
        )
        error = record.get("error")
        if error:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
        context = self._trace.set_span_in_context(span, parent)
        span_id = record.get("span_id")
        children = [
            *(by_parent.get(span_id, ()) if span_id is not None else ()),
            *(record.get("children") or ()),
        ]
        for child in children:
            if isinstance(child, Mapping):
                self._emit(tracer, child, context, by_parent, depth + 1, count)
        span.end(end_time=_nanos(record.get("end", record.get("end_time"))))


def _nanos(seconds: Any) -> int | None:
    return int(seconds * 1e9) if isinstance(seconds, int | float) else None


def _attribute(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else str(value)
