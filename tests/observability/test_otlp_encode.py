"""Plugwork's OTLP encoder and HTTP exporter against opentelemetry-proto and a real receiver."""

from __future__ import annotations

import socket

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as stock_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from otlp_receiver import OTLPReceiver

from plugwork.observability.otlp_encode import encode_spans
from plugwork.observability.otlp_http import OTLPHttpSpanExporter


def context(trace_id: int, span_id: int, remote: bool = False, state: str = "") -> trace.SpanContext:
    trace_state = trace.TraceState.from_header([state]) if state else trace.TraceState()
    return trace.SpanContext(trace_id, span_id, remote, trace.TraceFlags(1), trace_state)


def spans() -> list[ReadableSpan]:
    api = Resource.create({"service.name": "api", "deployment.environment": "test"})
    worker = Resource.create({"service.name": "worker"})
    plugwork, events_scope = InstrumentationScope("plugwork"), InstrumentationScope("plugwork.events", "1.2")
    root = context(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, remote=True, state="k=v,a=b")
    child = context(root.trace_id, 0x00F067AA0BA902B7)
    return [
        ReadableSpan(
            "POST /actions/order",
            child,
            root,
            api,
            {
                "http.request.method": "POST",
                "http.response.status_code": 200,
                "ratio": 0.25,
                "negative": -3,
                "cached": True,
                "tags": ("a", "b"),
                "empty": "",
            },
            (Event("exception", {"exception.type": "ValueError"}, 1_700_000_000_000_000_123),),
            (trace.Link(context(0x1234, 0x5678, remote=True)),),
            trace.SpanKind.SERVER,
            None,
            trace.Status(trace.StatusCode.ERROR, "FORBIDDEN"),
            1_700_000_000_000_000_000,
            1_700_000_000_000_050_000,
            plugwork,
        ),
        ReadableSpan(
            "process shipping",
            context(0x99, 0x77),
            None,
            worker,
            {"messaging.system": "plugwork"},
            (),
            (),
            trace.SpanKind.CONSUMER,
            None,
            trace.Status(trace.StatusCode.UNSET),
            5,
            6,
            plugwork,
        ),
        ReadableSpan(
            "validate",
            context(0x99, 0x78),
            context(0x99, 0x77),
            worker,
            None,
            kind=trace.SpanKind.INTERNAL,
            start_time=5,
            end_time=6,
            instrumentation_scope=events_scope,
        ),
    ]


def decode(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


def test_the_encoding_decodes_to_what_the_stock_encoder_makes() -> None:
    batch = spans()
    for _ in range(2):  # the second time, attribute pairs come from the memo
        assert decode(encode_spans(batch)) == decode(stock_encode(batch).SerializePartialToString())


def test_the_exporter_posts_gzip_with_headers_and_retries_503(otlp: OTLPReceiver) -> None:
    exporter = OTLPHttpSpanExporter(
        f"{otlp.endpoint}/v1/traces", {"authorization": "Basic eDp5"}, timeout=10, compression="gzip"
    )
    otlp.fail_next = 1
    assert exporter.export(spans()) == SpanExportResult.SUCCESS
    assert [s.name for s in otlp.spans] == ["POST /actions/order", "process shipping", "validate"]
    assert otlp.headers[-1]["authorization"] == "Basic eDp5"
    assert otlp.headers[-1]["content-encoding"] == "gzip"
    exporter.shutdown()


def test_an_unreachable_collector_drops_the_batch_within_the_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    exporter = OTLPHttpSpanExporter(f"http://127.0.0.1:{port}/v1/traces", timeout=0.3)
    assert exporter.export(spans()) == SpanExportResult.FAILURE


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        OTLPHttpSpanExporter("grpc://collector:4317")
