"""OpenTelemetry traces: ONE middleware for every transport, and the W3C trace carrier.

The transports decide nothing about tracing. The :class:`TraceCarrier` (registered by the tracing plugin)
copies ``traceparent``/``tracestate``/``baggage`` from each incoming message into ``Context.trace`` and
writes the current span's into outgoing ones (outbound HTTP, the job row, the Plugboard request). The
:class:`TracingMiddleware` turns each invocation into one span whose kind and name follow the semantic
conventions for the transport that carried it::

    http       SERVER    "<method> <route>"         http.request.method, http.route, http.response.status_code
    queue      CONSUMER  "process <queue>"          messaging.system/destination.name/message.id, attempt
    plugboard  SERVER    "<service>/<action>"       rpc.system=plugboard, rpc.service, rpc.method
    call       INTERNAL  "<action>"

An error outcome sets the span's status to ERROR with the outcome's code (``error.type``). A job's span is
the child of its enqueuer's span by default, or starts its own trace with a link to it (per queue:
``queue_propagation``). Everything here runs only when tracing is on: off, neither the middleware nor the
carrier is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..context import Context
from ..dispatch import CallNext, Invocation, Outcome
from ..extras import require
from .spans import SpanRecorder
from .tracing_settings import TracingSettings

PUBLISH_KEY = "x-plugwork-publish"
"""Written into a job's headers at enqueue: ``<queue>`` or ``<queue>;bulk`` (read by the worker's span)."""
TRACE_KEYS = ("traceparent", "tracestate", "baggage", PUBLISH_KEY)
# W3C limits: a traceparent is 55 characters, tracestate at most 512, baggage at most 8192 bytes.
_MAX_LENGTH = {"traceparent": 128, "tracestate": 512, "baggage": 8192, PUBLISH_KEY: 300}
ACTION_ROUTE = "/actions/"
_ACTION_AT = len(ACTION_ROUTE)
MESSAGING_SYSTEM = "plugwork"
# Set while a PRODUCER span is open around an enqueue: (queue, bulk).
_publishing: ContextVar[tuple[str, bool] | None] = ContextVar("plugwork_publishing", default=None)


class TraceCarrier:
    """W3C Trace Context and Baggage across every transport (a :class:`plugwork.carriers.Carrier`)."""

    keys: tuple[str, ...] = TRACE_KEYS

    def __init__(self) -> None:
        self._otel = require("opentelemetry.propagate", extra="otel")
        self._propagator = _propagator()

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        """Keep the incoming trace headers in ``ctx.trace`` (parsed by the middleware, once)."""
        found = None
        for key in TRACE_KEYS[:3]:
            value = headers.get(key)
            if value and len(value) <= _MAX_LENGTH[key]:  # an oversized header is dropped, never cut
                if found is None:
                    found = {}
                found[key] = value
        if found is not None:
            ctx.trace = found
        publish = headers.get(PUBLISH_KEY)
        if publish and ctx.transport == "queue" and len(publish) <= _MAX_LENGTH[PUBLISH_KEY]:
            queue, _, bulk = publish.partition(";")
            ctx.extras["queue"] = queue
            if bulk == "bulk":
                ctx.extras["trace_bulk"] = True

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        """Write the current span's context; outside a span, pass the incoming headers on unchanged."""
        before = len(headers)
        self._propagator.inject(headers)
        if len(headers) == before and ctx.trace:
            headers.update(ctx.trace)
        publishing = _publishing.get()
        if publishing is not None:
            queue, bulk = publishing
            headers[PUBLISH_KEY] = f"{queue};bulk" if bulk else queue


class PublishSpans:
    """The job queue's publish hook: a PRODUCER span ``publish <queue>`` around each enqueue.

    The job headers are written inside it, so the job's CONSUMER span is its child (or links to it).
    """

    def __init__(self, recorder: SpanRecorder) -> None:
        self._trace = require("opentelemetry.trace", extra="otel")
        self._context = require("opentelemetry.context", extra="otel")
        self._recorder = recorder

    @contextmanager
    def __call__(self, queue: str, action: str, count: int) -> Iterator[None]:
        attributes: dict[str, Any] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": queue,
            "plugwork.action": action,
        }
        if count > 1:
            attributes["messaging.batch.message_count"] = count
        trace = self._trace
        span = self._recorder.start(f"publish {queue}", trace.SpanKind.PRODUCER, attributes)
        token = self._context.attach(trace.set_span_in_context(span))
        publishing = _publishing.set((queue, count > 1))
        try:
            yield
        except BaseException as exc:
            span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            _publishing.reset(publishing)
            self._context.detach(token)
            span.end()


def _propagator() -> Any:
    composite = require("opentelemetry.propagators.composite", extra="otel")
    tracecontext = require("opentelemetry.trace.propagation.tracecontext", extra="otel")
    baggage = require("opentelemetry.baggage.propagation", extra="otel")
    return composite.CompositePropagator(
        [tracecontext.TraceContextTextMapPropagator(), baggage.W3CBaggagePropagator()]
    )


Describe = Callable[[Invocation], "tuple[str, Any, Callable[[], dict[str, Any]]]"]


class TracingMiddleware:
    """One span per invocation, made current while the rest of the chain runs (see the module docstring)."""

    def __init__(self, recorder: SpanRecorder, settings: TracingSettings, service: str) -> None:
        trace = require("opentelemetry.trace", extra="otel")
        self._context = require("opentelemetry.context", extra="otel")
        self._trace = trace
        self._recorder = recorder
        self._settings = settings
        self._service = service
        self._propagator = _propagator()
        self._get_current = self._context.get_current
        self._kinds = trace.SpanKind
        self._error = trace.Status(trace.StatusCode.ERROR)
        self._http_names: dict[tuple[str | None, str | None], str] = {}
        self._describe: dict[str, Describe] = {
            "http": self._http,
            "queue": self._queue,
            "plugboard": self._plugboard,
        }

    async def __call__(self, invocation: Invocation, call_next: CallNext) -> Outcome:
        ctx = invocation.context
        parent = self._propagator.extract(ctx.trace) if ctx.trace else None
        name, kind, attributes = self._describe.get(ctx.transport, self._internal)(invocation)
        links = None
        if parent is not None and kind is self._kinds.CONSUMER and self._links(invocation):
            remote = self._trace.get_current_span(parent).get_span_context()
            if remote.is_valid:
                links = [self._trace.Link(remote)]
            parent = self._context.Context()  # its own trace, linked to the enqueuer's
        recorder = self._recorder
        if parent is None:
            parent = self._get_current()
        span = recorder.start(name, kind, attributes, parent, links or ())
        token = recorder.attach(span, parent)
        try:
            outcome = await call_next(invocation)
        except BaseException as exc:  # cancellation: the span still ends, with the reason
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        finally:
            recorder.detach(token)
        if span.is_recording():
            if outcome.error is not None:
                code = outcome.error.code.value
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, code))
                span.set_attribute("error.type", code)
            if kind is self._kinds.SERVER and ctx.transport == "http":
                span.set_attribute("http.response.status_code", outcome.status)
        span.end()
        return outcome

    def _links(self, invocation: Invocation) -> bool:
        mode = self._settings.propagation(_queue_of(invocation))
        if mode is None:  # not configured for this queue: bulk enqueues link, single ones are children
            return bool(invocation.context.extras.get("trace_bulk"))
        return mode == "link"

    # Each transport: the span's name and kind at once, its attributes only when the span records (a
    # request the sampler drops costs no attribute dict; the samplers Plugwork builds ignore attributes).
    def _http(self, invocation: Invocation) -> tuple[str, Any, Callable[[], dict[str, Any]]]:
        scope = invocation.context.http_scope
        method = scope["method"] if scope is not None else None
        path = scope["path"] if scope is not None else None
        route: str | None = None
        if scope is not None and invocation.spec is not None:
            matched = scope.get("route")
            if matched is not None:
                route = getattr(matched, "path", None)
            elif (
                path is not None and path.startswith(ACTION_ROUTE) and path[_ACTION_AT:] == invocation.action
            ):
                route = path  # the transport's own fast path: POST /actions/{name}
        # Without a route (an unknown action, an app mounted elsewhere) the name stays low-cardinality.
        key = (method, route)
        name = self._http_names.get(key)
        if name is None:
            name = self._http_names[key] = f"{method or 'HTTP'} {route}" if route else (method or "HTTP")

        def attributes() -> dict[str, Any]:
            values: dict[str, Any] = {
                "plugwork.action": invocation.action,
                "plugwork.correlation_id": invocation.context.correlation_id,
            }
            if method is not None:
                values["http.request.method"] = method
            if path is not None:
                values["url.path"] = path
            if route is not None:
                values["http.route"] = route
            return values

        return name, self._kinds.SERVER, attributes

    def _queue(self, invocation: Invocation) -> tuple[str, Any, Callable[[], dict[str, Any]]]:
        queue = _queue_of(invocation)

        def attributes() -> dict[str, Any]:
            ctx = invocation.context
            return {
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": queue,
                "messaging.message.id": ctx.job_id or "",
                "messaging.plugwork.attempt": ctx.attempt,
                "token": ctx.job_id or "",  # usvc-lib's name for the job id
                "plugwork.action": invocation.action,
                "plugwork.correlation_id": ctx.correlation_id,
            }

        return f"process {queue}", self._kinds.CONSUMER, attributes

    def _plugboard(self, invocation: Invocation) -> tuple[str, Any, Callable[[], dict[str, Any]]]:
        def attributes() -> dict[str, Any]:
            ctx = invocation.context
            return {
                "rpc.system": "plugboard",
                "rpc.service": self._service,
                "rpc.method": invocation.action,
                "plugwork.request_id": ctx.request_id or "",
                "plugwork.correlation_id": ctx.correlation_id,
            }

        return f"{self._service}/{invocation.action}", self._kinds.SERVER, attributes

    def _internal(self, invocation: Invocation) -> tuple[str, Any, Callable[[], dict[str, Any]]]:
        def attributes() -> dict[str, Any]:
            return {
                "plugwork.action": invocation.action,
                "plugwork.transport": invocation.context.transport,
                "plugwork.correlation_id": invocation.context.correlation_id,
            }

        return invocation.action, self._kinds.INTERNAL, attributes


def _queue_of(invocation: Invocation) -> str:
    queue = invocation.context.extras.get("queue")
    if isinstance(queue, str):
        return queue
    return invocation.spec.queue if invocation.spec is not None else "default"


def trace_ids_source() -> Callable[[], tuple[str, str] | None]:
    """A function giving the current span's trace and span ids as hex (None outside a span): for logs."""
    get_current_span = require("opentelemetry.trace", extra="otel").get_current_span

    def current() -> tuple[str, str] | None:
        span_context = get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")

    return current
