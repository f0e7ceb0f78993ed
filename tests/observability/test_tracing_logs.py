"""Log lines inside a span carry its ids; structlog events go to OTLP when a logs endpoint is set."""

from __future__ import annotations

import time

import pytest
from otlp_receiver import OTLPReceiver
from pydantic import BaseModel
from traced_service import build

from core_helpers import LogCapture
from plugwork.observability.span_export import OpenTelemetryExporter
from plugwork.testing import TestClient

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def endpoints(otlp: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp.endpoint}/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{otlp.endpoint}/v1/logs")


async def test_log_lines_carry_the_span_ids_and_are_exported(otlp: OTLPReceiver, endpoints: None) -> None:
    with LogCapture() as logs:
        async with TestClient(build()) as client:
            response = await client.http.post(
                "/actions/quote", json={"item": "lamp"}, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200
    [span] = otlp.wait_for_spans(1)
    [line] = logs.events("quoting")
    assert (line["trace_id"], line["span_id"]) == (TRACE_ID, span.span_id)
    assert all("trace_id" not in line for line in logs.events("app started"))  # outside any span
    deadline = time.monotonic() + 20
    while not any(record.body == "quoting" for record in otlp.logs) and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = [r for r in otlp.logs if r.body == "quoting"]
    assert (record.trace_id, record.span_id, record.severity) == (TRACE_ID, span.span_id, "INFO")
    assert record.attributes["item"] == "lamp"
    assert record.service == "traced-service"


class Empty(BaseModel):
    pass


async def test_pymodules_traces_join_the_invocation_trace(otlp: OTLPReceiver, endpoints: None) -> None:
    exporter = OpenTelemetryExporter()
    app = build()

    @app.action("legacy")
    async def legacy(body: Empty) -> dict[str, bool]:
        now = time.time()
        exporter.export(
            {
                "name": "process_order",
                "span_id": "r1",
                "start": now - 0.2,
                "end": now,
                "attributes": {"order": 123},
                "error": None,
                "correlation_id": "order-123",
                "spans": [
                    {
                        "name": "validate",
                        "span_id": "s1",
                        "parent_id": "r1",
                        "start": now - 0.2,
                        "end": now - 0.1,
                    },
                    {
                        "name": "save",
                        "span_id": "s2",
                        "parent_id": "r1",
                        "start": now - 0.1,
                        "end": now,
                        "error": "x",
                    },
                ],
            }
        )
        return {"ok": True}

    async with TestClient(app) as client:
        response = await client.http.post("/actions/legacy", json={}, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200
    spans = {s.name: s for s in otlp.wait_for_spans(4)}
    action, root = spans["POST /actions/legacy"], spans["process_order"]
    assert {s.trace_id for s in spans.values()} == {TRACE_ID}
    assert root.parent_span_id == action.span_id
    assert spans["validate"].parent_span_id == root.span_id == spans["save"].parent_span_id
    assert root.attributes == {"order": 123, "plugwork.correlation_id": "order-123"}
    assert spans["save"].status_code == 2


async def test_user_spans_from_the_global_api_are_children_of_the_invocation(
    otlp: OTLPReceiver, endpoints: None
) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer("my.module")  # got once, at import time in real code: follows app restarts
    app = build()

    @app.action("nested")
    async def nested(body: Empty) -> dict[str, bool]:
        with tracer.start_as_current_span("load customer") as span:
            span.set_attribute("customer", "c-1")
        return {"ok": True}

    for _ in range(2):  # a second start: the same module-level tracer reaches the new runtime
        async with TestClient(app) as client:
            response = await client.http.post(
                "/actions/nested", json={}, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200
    spans = otlp.wait_for_spans(4)
    actions = [s for s in spans if s.name == "POST /actions/nested"]
    children = [s for s in spans if s.name == "load customer"]
    assert len(actions) == len(children) == 2
    for child in children:
        assert child.parent_span_id in {a.span_id for a in actions}
        assert child.trace_id == TRACE_ID and child.attributes == {"customer": "c-1"}


async def test_the_pymodules_tracer_is_bridged_while_tracing_is_on(
    otlp: OTLPReceiver, endpoints: None
) -> None:
    from plugwork.events.tracing import Tracer

    tracer = Tracer(service_name="legacy")  # no exporter of its own: the bridge exports its traces
    app = build()

    @app.action("manual")
    async def manual(body: Empty) -> dict[str, bool]:
        with tracer.trace("process_order", correlation_id="order-9") as ctx, ctx.span("validate"):
            pass
        return {"ok": True}

    async with TestClient(app) as client:
        response = await client.http.post("/actions/manual", json={}, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200
    spans = {s.name: s for s in otlp.wait_for_spans(3)}
    assert spans["process_order"].parent_span_id == spans["POST /actions/manual"].span_id
    assert spans["validate"].parent_span_id == spans["process_order"].span_id
    assert spans["process_order"].attributes["plugwork.correlation_id"] == "order-9"
    before = len(otlp.spans)
    with tracer.trace("after stop"):  # the app stopped: the bridge is gone, nothing is exported
        pass
    assert len(otlp.spans) == before
