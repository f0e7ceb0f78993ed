"""OTLP log export of structlog events: each event becomes one OpenTelemetry log record.

Installed as the log sink of :func:`plugwork.observability.logging.set_trace_hooks`; it runs in the shared
processor chain, so structlog lines and the standard library's (uvicorn, asyncio) are both exported. The
record carries the current span's context (trace and span id). The SDK's batch processor exports it from
its own thread, with a bounded queue.
"""

from __future__ import annotations

from typing import Any

from structlog.typing import EventDict

from ..extras import require

_SKIPPED = ("event", "level", "timestamp", "exc_info", "stack_info")
# The exporter's own warnings must not be exported again (a failing collector would feed itself).
_OWN_LOGGERS = ("opentelemetry", "plugwork.otlp")


class StructlogExporter:
    """A log sink: ``(method, event_dict)`` -> ``logger.emit(...)``."""

    def __init__(self, logger: Any) -> None:
        logs_api = require("opentelemetry._logs", extra="otel")
        self._logger = logger
        severity = logs_api.SeverityNumber
        self._severity = {
            "debug": severity.DEBUG,
            "info": severity.INFO,
            "warning": severity.WARN,
            "warn": severity.WARN,
            "error": severity.ERROR,
            "exception": severity.ERROR,
            "critical": severity.FATAL,
        }
        self._unspecified = severity.UNSPECIFIED

    def __call__(self, method: str, event_dict: EventDict) -> None:
        name = event_dict.get("logger")
        if isinstance(name, str) and name.startswith(_OWN_LOGGERS):
            return
        level = str(event_dict.get("level") or method).lower()
        attributes = {k: _attribute(v) for k, v in event_dict.items() if k not in _SKIPPED}
        self._logger.emit(
            severity_number=self._severity.get(level, self._unspecified),
            severity_text=level.upper(),
            body=str(event_dict.get("event", "")),
            attributes=attributes,
        )


def _attribute(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)
