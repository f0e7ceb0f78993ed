"""RestAPIService with tracing on: a CLIENT span per attempt, and the upstream sees it as the parent."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_server import running_fault_server
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "observability"))
from otlp_receiver import OTLPReceiver

from plugwork import App
from plugwork.clients import RestAPIConfig, RestAPIService
from plugwork.observability.tracing_plugin import TracingPlugin
from plugwork.testing import TestClient

TRACE_ID = "6bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Empty(BaseModel):
    pass


class Upstream(RestAPIService):
    name = "upstream"


@pytest.fixture
def otlp(monkeypatch: pytest.MonkeyPatch) -> Iterator[OTLPReceiver]:
    receiver = OTLPReceiver().start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    try:
        yield receiver
    finally:
        receiver.stop()


async def test_each_attempt_is_a_client_span_and_the_upstream_gets_its_context(otlp: OTLPReceiver) -> None:
    async with running_fault_server() as server:
        Upstream.config = RestAPIConfig(BASE_URL=server.url, RETRY_BACKOFF_BASE=0.0)
        app = App("caller", services=[Upstream], plugins=[TracingPlugin()])

        @app.action("fetch")
        async def fetch(body: Empty, upstream: Upstream) -> dict[str, int]:
            first = await upstream.request("GET", "/fail/t/1/503")
            echoed = await upstream.request("GET", "/ok")
            return {"first": first.status_code, "echoed": echoed.status_code}

        async with TestClient(app) as client:
            response = await client.http.post("/actions/fetch", json={}, headers={"traceparent": TRACEPARENT})
            assert response.json() == {"first": 200, "echoed": 200}
    spans = otlp.wait_for_spans(4)
    [server_span] = [s for s in spans if s.kind == "SERVER"]
    clients = [s for s in spans if s.kind == "CLIENT"]
    assert len(clients) == 3  # 503, its retry, then /ok
    assert {s.trace_id for s in spans} == {TRACE_ID}
    assert all(s.parent_span_id == server_span.span_id for s in clients)
    [ok] = [s for s in clients if s.attributes["url.full"].endswith("/ok")]
    [failed] = [
        s for s in clients if "/fail/" in s.attributes["url.full"] and s is not ok and s.status_code == 2
    ]
    [retried] = [s for s in clients if s.attributes.get("http.request.resend_count") == 1]
    assert ok.attributes["url.full"].endswith("/ok") and ok.attributes["http.response.status_code"] == 200
    assert failed.attributes["http.response.status_code"] == 503 and failed.status_code == 2
    assert (
        retried.attributes["http.response.status_code"] == 200 and "/fail/" in retried.attributes["url.full"]
    )
    [echoed] = server.headers
    assert echoed["traceparent"] == f"00-{TRACE_ID}-{ok.span_id}-01"
