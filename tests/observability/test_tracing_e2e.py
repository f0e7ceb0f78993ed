"""One trace across processes: HTTP -> job on PostgreSQL -> worker process, and producer -> hub -> consumer.

Every span is exported over OTLP/HTTP to a real receiver started by the test and decoded with
opentelemetry-proto; the parent chain is checked span by span.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from otlp_receiver import OTLPReceiver, ReceivedSpan
from traced_service import build

from plugwork.queue.client import JobQueue
from plugwork.testing import TestClient

HERE = Path(__file__).resolve().parent
PLUGWORK = Path(sys.executable).parent / "plugwork"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER}-01"


def one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


@pytest.fixture
def tracing_env(otlp: OTLPReceiver, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_EXPORTER_OTLP_USER": "collector",
        "OTEL_EXPORTER_OTLP_PASSWORD": "s3cret",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    return env


def start_worker(postgres_url: str, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    worker_env = {
        **os.environ,
        **env,
        "OTEL_SERVICE_NAME": "worker",
        "PLUGWORK_QUEUE_URL": postgres_url,
        "PLUGWORK_POLLING_INTERVAL_SECONDS": "0.05",
        "PLUGWORK_LOG_JSON": "true",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    with log_file.open("wb") as out:
        return subprocess.Popen(
            [str(PLUGWORK), "worker", "traced_service:app"], cwd=HERE, env=worker_env, stderr=out, stdout=out
        )


async def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    for _ in range(300):  # a bound on waiting for the graceful stop, not a performance threshold
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    else:
        proc.kill()
    assert proc.returncode == 0


async def test_http_request_job_and_worker_are_one_trace(
    otlp: OTLPReceiver, tracing_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    log_file = tmp_path / "worker.log"
    worker = start_worker(postgres_url, tracing_env, log_file)
    try:
        async with TestClient(build(), queue_url=postgres_url, worker=False) as client:
            response = await client.http.post(
                "/actions/order", json={"item": "book"}, headers={"traceparent": TRACEPARENT}
            )
            assert response.status_code == 200, response.text
            job_id = response.json()["job_id"]
            job = await client.app.get(JobQueue).wait(job_id, timeout=30)
            assert job.status.value == "completed", job
        await stop_worker(worker)
    finally:
        if worker.poll() is None:
            worker.kill()
    spans = otlp.wait_for_spans(3)
    server = one(spans, "POST /actions/order")
    publish = one(spans, "publish shipping")
    process = one(spans, "process shipping")
    assert {s.trace_id for s in (server, publish, process)} == {TRACE_ID}
    assert (server.kind, server.parent_span_id) == ("SERVER", CALLER)
    assert (publish.kind, publish.parent_span_id) == ("PRODUCER", server.span_id)
    assert (process.kind, process.parent_span_id) == ("CONSUMER", publish.span_id)
    assert (server.service, publish.service, process.service) == (
        "traced-service",
        "traced-service",
        "worker",
    )
    assert process.attributes["messaging.message.id"] == job_id
    assert process.attributes["messaging.destination.name"] == "shipping"
    assert process.attributes["messaging.system"] == "plugwork"
    assert process.attributes["messaging.plugwork.attempt"] == 1
    # usvc-lib's basic auth reached the collector (and the password is nowhere in the worker's log).
    assert {h.get("authorization") for h in otlp.headers} == {"Basic Y29sbGVjdG9yOnMzY3JldA=="}
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    [shipping] = [line for line in lines if line.get("event") == "shipping"]
    assert (shipping["trace_id"], shipping["span_id"]) == (TRACE_ID, process.span_id)
    assert "s3cret" not in log_file.read_text()


async def test_bulk_enqueue_links_each_job_to_the_producer_span(
    otlp: OTLPReceiver, tracing_env: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    async with TestClient(
        build(), queue_url=postgres_url, worker=True, polling_interval_seconds=0.05
    ) as client:
        response = await client.http.post(
            "/actions/order_many", json={"item": "pen"}, headers={"traceparent": TRACEPARENT}
        )
        queue = client.app.get(JobQueue)
        for job_id in response.json()["job_ids"]:
            assert (await queue.wait(job_id, timeout=30)).status.value == "completed"
    spans = otlp.wait_for_spans(5)
    publish = one(spans, "publish shipping")
    assert publish.trace_id == TRACE_ID and publish.attributes["messaging.batch.message_count"] == 3
    processed = [s for s in spans if s.name == "process shipping"]
    assert len(processed) == 3
    for span in processed:
        assert span.trace_id != TRACE_ID and span.parent_span_id == ""
        assert span.links == [(TRACE_ID, publish.span_id)]


async def test_producer_hub_and_consumer_are_one_trace(
    otlp: OTLPReceiver, tracing_env: dict[str, str], tmp_path: Path
) -> None:
    from hub_deployment import deployment

    async with deployment(tmp_path) as hub:
        app = build()
        async with TestClient(app, plugboard_url=hub.ws_url, plugboard_token=hub.token):
            await hub.wait_for_consumer()
            response = await hub.call("quote", {"item": "lamp"}, headers={"traceparent": TRACEPARENT})
            assert response.status_code == 200, response.text
            assert response.json()["fields"] == {"quote": "lamp: 42"}
    spans = otlp.wait_for_spans(2)
    routed = one(spans, f"{hub.service_id}/quote")
    served = one(spans, "traced-service/quote")
    assert {routed.trace_id, served.trace_id} == {TRACE_ID}
    assert (routed.kind, routed.parent_span_id, routed.service) == ("SERVER", CALLER, "plugboard-hub")
    assert (served.kind, served.parent_span_id) == ("SERVER", routed.span_id)
    assert served.attributes["rpc.system"] == "plugboard"
    assert served.attributes["rpc.method"] == "quote"


async def test_sampling_off_exports_no_span(
    otlp: OTLPReceiver, tracing_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    async with TestClient(build()) as client:
        for _ in range(3):
            response = await client.http.post("/actions/quote", json={"item": "x"})
            assert response.status_code == 200
    await asyncio.sleep(0.2)
    assert otlp.spans == []


async def test_a_request_the_hub_refuses_is_an_error_span(
    otlp: OTLPReceiver, tracing_env: dict[str, str], tmp_path: Path
) -> None:
    from hub_deployment import deployment

    async with deployment(tmp_path) as hub:  # no consumer connected
        response = await hub.call("quote", {"item": "lamp"}, headers={"traceparent": TRACEPARENT})
        assert response.status_code == 422
    [span] = otlp.wait_for_spans(1)
    assert (span.trace_id, span.parent_span_id, span.status_code) == (TRACE_ID, CALLER, 2)
    assert span.attributes["error.type"] == "no_consumer"
    assert span.attributes["http.response.status_code"] == 422
