"""The OpenTelemetry exporter hook for spans recorded elsewhere (the PyModules ``Tracer`` API).

A tracer that records its own spans (name, start and end times, attributes, children) hands each finished
trace to :meth:`OpenTelemetryExporter.export`; when tracing is on, the spans are re-created with their own
timestamps under the current OpenTelemetry context, so they join the invocation's trace. When tracing is
off, ``export`` does nothing. A record is a mapping (what ``to_dict()`` returns) or any object with the
same attributes::

    {"name": "process_order", "start_time": 1700000000.0, "end_time": 1700000000.2,
     "attributes": {"order": "123"}, "error": None, "spans": [{"name": "validate", ...}]}

Times are seconds since the epoch; ``error`` (a message) marks the span failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..extras import require

MAX_DEPTH = 32
MAX_SPANS = 10_000


class OpenTelemetryExporter:
    """``export(record)``: replay a finished trace record as OpenTelemetry spans (see the module doc)."""

    def __init__(self, tracer: Any = None) -> None:
        self._trace = require("opentelemetry.trace", extra="otel")
        self._tracer = tracer

    def export(self, record: Any) -> None:
        """Re-create ``record`` and its children as spans under the current context (bounded in size)."""
        tracer = self._tracer or self._trace.get_tracer("plugwork.events")
        self._emit(tracer, record, None, 0, [0])

    def _emit(self, tracer: Any, record: Any, parent: Any, depth: int, count: list[int]) -> None:
        if depth >= MAX_DEPTH or count[0] >= MAX_SPANS:
            return
        count[0] += 1
        get = (
            record.get
            if isinstance(record, Mapping)
            else lambda key, default=None: getattr(record, key, default)
        )
        start, end = get("start_time"), get("end_time")
        attributes = {str(k): _attribute(v) for k, v in (get("attributes") or {}).items()}
        span = tracer.start_span(
            str(get("name") or "span"),
            context=parent,
            attributes=attributes,
            start_time=_nanos(start),
        )
        error = get("error")
        if error:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
        child_context = self._trace.set_span_in_context(span, parent)
        for child in get("spans") or get("children") or ():
            self._emit(tracer, child, child_context, depth + 1, count)
        span.end(end_time=_nanos(end))


def _nanos(seconds: Any) -> int | None:
    return int(seconds * 1e9) if isinstance(seconds, int | float) else None


def _attribute(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else str(value)
