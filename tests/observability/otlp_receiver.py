"""A real OTLP/HTTP receiver for tests: a threaded HTTP server that decodes the protobuf export requests.

Exporters in this process or in others (a worker subprocess, a hub) send to ``receiver.endpoint``; the
spans and log records arrive decoded with opentelemetry-proto, nothing of the SDK is mocked.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
MAX_BODY = 16 * 1024 * 1024


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


@dataclass
class ReceivedSpan:
    """One decoded span."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    links: list[tuple[str, str]]
    service: str
    events: list[str] = field(default_factory=list)


@dataclass
class ReceivedLog:
    """One decoded log record."""

    body: Any
    severity: str
    attributes: dict[str, Any]
    trace_id: str
    span_id: str
    service: str


class OTLPReceiver:
    """Start with :meth:`start`, stop with :meth:`stop`; spans, logs and request headers are kept."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.logs: list[ReceivedLog] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next = 0
        """Answer this many export requests with 503 first (to test the exporter's retries)."""
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length)
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    receiver.fail_next -= failing
                if failing:
                    self.send_error(503)
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    receiver._traces(body)
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path == "/v1/logs":
                    receiver._logs(body)
                    reply = ExportLogsServiceResponse().SerializeToString()
                else:
                    self.send_error(404)
                    return
                with receiver._lock:
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._grpc: Any = None

    def start(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=None)

    def start_grpc(self) -> str:
        """Also accept OTLP over gRPC (decoded the same way); returns its ``host:port``."""
        from concurrent.futures import ThreadPoolExecutor

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        receiver = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
                receiver._traces(request.SerializeToString())
                with receiver._lock:
                    receiver.headers.append(dict(context.invocation_metadata()))
                return ExportTraceServiceResponse()

        self._grpc = grpc.server(ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), self._grpc)
        port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return f"127.0.0.1:{port}"

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            span.name,
                            KINDS[span.kind],
                            _attributes(span.attributes),
                            span.status.code,
                            span.status.message,
                            [(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                            service,
                            [event.name for event in span.events],
                        )
                    )
        with self._lock:
            self.spans.extend(spans)

    def _logs(self, body: bytes) -> None:
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        logs = []
        for resource_logs in request.resource_logs:
            service = str(_attributes(resource_logs.resource.attributes).get("service.name", ""))
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    logs.append(
                        ReceivedLog(
                            _value(record.body),
                            record.severity_text,
                            _attributes(record.attributes),
                            record.trace_id.hex(),
                            record.span_id.hex(),
                            service,
                        )
                    )
        with self._lock:
            self.logs.extend(logs)

    def wait_for_spans(self, count: int, timeout: float = 20.0) -> list[ReceivedSpan]:
        """The spans once at least ``count`` arrived (a bound on waiting, not a performance threshold)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"{len(self.spans)} spans arrived, {count} expected: {self.spans}")
