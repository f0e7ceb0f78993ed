"""A CLIENT span around each outbound attempt, when tracing is on in this process.

The span is current while the request is sent, so the ``traceparent`` the carriers write names it: the
upstream's SERVER span is its child. Attributes follow the HTTP client conventions (``http.request.method``,
``server.address``, ``server.port``, ``url.full`` without user info or query, ``http.response.status_code``,
``http.request.resend_count`` for a retry, ``error.type``). With tracing off this is one function call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..extras import require
from ..observability.otel import active_runtime
from .urls import safe_url


@contextmanager
def client_span(method: str, url: Any, attempt: int) -> Iterator[Any]:
    """Yields the attempt's span (None when tracing is off); ``url`` is the request's ``httpx2.URL``."""
    runtime = active_runtime()
    recorder = runtime.recorder if runtime is not None else None
    if recorder is None:
        yield None
        return
    trace = require("opentelemetry.trace", extra="otel")
    context = require("opentelemetry.context", extra="otel")
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
        "url.full": safe_url(str(url)),
    }
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    span = recorder.start(method, trace.SpanKind.CLIENT, attributes)
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    except BaseException as exc:
        span.set_attribute("error.type", type(exc).__name__)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        context.detach(token)
        span.end()


def record_answer(span: Any, status: int | None, error: BaseException | None) -> None:
    """Put the attempt's outcome on its span (no-op without one)."""
    if span is None:
        return
    trace = require("opentelemetry.trace", extra="otel")
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_attribute("error.type", str(status))
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(status)))
    elif error is not None:
        span.set_attribute("error.type", type(error).__name__)
        span.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
