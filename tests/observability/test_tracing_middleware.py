"""The tracing middleware and carrier on their own, exporting over OTLP/HTTP to a real receiver."""

from __future__ import annotations

import asyncio

import pytest
from otlp_receiver import OTLPReceiver
from pydantic import BaseModel

from plugwork import App
from plugwork.config import load_plugin_settings, load_settings
from plugwork.context import Context
from plugwork.errors import Forbidden
from plugwork.observability.otel import OtelRuntime
from plugwork.observability.tracing import TraceCarrier, TracingMiddleware
from plugwork.observability.tracing_settings import TracingSettings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"


class In(BaseModel):
    name: str = "x"


def load(**values: object) -> TracingSettings:
    """The plugin's settings as the app loads them (overrides > environment > YAML > defaults)."""
    config = load_plugin_settings(TracingSettings, "tracing", load_settings(env_file=None), values)
    assert isinstance(config, TracingSettings)
    return config


def settings(otlp: OTLPReceiver, **values: object) -> TracingSettings:
    return load(endpoint=otlp.endpoint, **values)


def traced_app(runtime: OtelRuntime, config: TracingSettings) -> App:
    app = App("traced", settings=None, middleware=[TracingMiddleware(runtime.recorder, config, "traced")])
    app.configure(queue_url="none", plugboard_url="")

    @app.action("hello")
    async def hello(body: In) -> dict[str, str]:
        return {"hello": body.name}

    @app.action("denied")
    async def denied(body: In) -> dict[str, str]:
        raise Forbidden("no")

    return app


class UserId(BaseModel):
    user_id: str


async def test_each_http_action_call_is_one_server_span_with_its_route(otlp: OTLPReceiver) -> None:
    from plugwork.observability.tracing_plugin import TracingPlugin
    from plugwork.rest import RestPlugin
    from plugwork.testing import TestClient

    app = App("traced", plugins=[TracingPlugin(endpoint=otlp.endpoint), RestPlugin()])

    @app.action("hello")
    async def hello(body: In) -> dict[str, str]:
        return {"hello": body.name}

    @app.action("denied")
    async def denied(body: In) -> dict[str, str]:
        raise Forbidden("no")

    @app.action("get_user")
    async def get_user(body: UserId) -> dict[str, str]:
        return {"id": body.user_id}

    async with TestClient(app) as client:
        headers = {"traceparent": TRACEPARENT, "tracestate": "k=v"}
        assert (
            await client.http.post("/actions/hello", json={"name": "a"}, headers=headers)
        ).status_code == 200
        assert (await client.http.post("/actions/denied", json={})).status_code == 403
        assert (await client.http.get("/users/u-7")).json() == {"id": "u-7"}
        assert (await client.http.post("/actions/nope", json={})).status_code == 404
    spans = otlp.wait_for_spans(4)
    assert len(spans) == 4  # one span per request: no ASGI-level duplicates
    by_name = {s.name: s for s in spans}
    ok = by_name["POST /actions/hello"]
    assert (ok.kind, ok.trace_id, ok.parent_span_id) == ("SERVER", TRACE_ID, PARENT)
    assert ok.attributes["http.route"] == "/actions/hello"
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.service == "traced"
    bad = by_name["POST /actions/denied"]
    assert bad.status_code == 2 and bad.status_message == "FORBIDDEN"
    assert bad.attributes["error.type"] == "FORBIDDEN"
    assert bad.parent_span_id == ""  # no traceparent: a new trace
    rest = by_name["GET /users/{user_id}"]
    assert (rest.attributes["http.route"], rest.attributes["url.path"]) == ("/users/{user_id}", "/users/u-7")
    unknown = by_name["POST"]  # an unknown action's path is no route
    assert "http.route" not in unknown.attributes and unknown.attributes["url.path"] == "/actions/nope"


async def test_an_http_invocation_outside_an_http_request_is_named_by_method_only(otlp: OTLPReceiver) -> None:
    config = settings(otlp)
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    async with app:
        ctx = Context(transport="http")
        TraceCarrier().extract({"traceparent": TRACEPARENT, "tracestate": "k=v"}, ctx)
        assert ctx.trace == {"traceparent": TRACEPARENT, "tracestate": "k=v"}
        assert (await app.invoke("hello", {"name": "a"}, context=ctx)).ok
    await asyncio.to_thread(runtime.shutdown)
    [span] = otlp.wait_for_spans(1)
    assert (span.name, span.kind, span.trace_id, span.parent_span_id) == ("HTTP", "SERVER", TRACE_ID, PARENT)


async def test_queue_spans_are_consumer_children_or_links_by_queue(otlp: OTLPReceiver) -> None:
    config = settings(otlp, queue_propagation={"bulk": "link"})
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    async with app:
        for queue in ("default", "bulk"):
            ctx = Context(
                transport="queue", job_id=f"job-{queue}", attempt=2, trace={"traceparent": TRACEPARENT}
            )
            ctx.extras["queue"] = queue
            assert (await app.invoke("hello", {}, context=ctx)).ok
    await asyncio.to_thread(runtime.shutdown)
    spans = {s.attributes["messaging.destination.name"]: s for s in otlp.wait_for_spans(2)}
    child, linked = spans["default"], spans["bulk"]
    assert (child.name, child.kind, child.trace_id, child.parent_span_id) == (
        "process default",
        "CONSUMER",
        TRACE_ID,
        PARENT,
    )
    assert child.attributes["messaging.message.id"] == "job-default"
    assert child.attributes["messaging.plugwork.attempt"] == 2
    assert child.attributes["token"] == "job-default"
    assert linked.trace_id != TRACE_ID and linked.parent_span_id == ""
    assert linked.links == [(TRACE_ID, PARENT)]


async def test_sampling_off_exports_nothing_and_propagates_the_decision(otlp: OTLPReceiver) -> None:
    config = settings(otlp, sampler="always_off")
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    carrier = TraceCarrier()
    seen: list[dict[str, str]] = []

    @app.action("outbound")
    async def outbound(body: In) -> dict[str, str]:
        headers: dict[str, str] = {}
        from plugwork.context import get_context

        carrier.inject(get_context(), headers)
        seen.append(headers)
        return headers

    async with app:
        for _ in range(5):
            assert (await app.invoke("outbound", {}, context=Context(transport="http"))).ok
    await asyncio.to_thread(runtime.shutdown)
    assert otlp.spans == []
    assert seen and not any(int(h["traceparent"][-2:], 16) & 1 for h in seen)  # "not sampled" downstream


async def test_inject_writes_the_current_span_and_passes_through_outside_one(otlp: OTLPReceiver) -> None:
    config = settings(otlp)
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    carrier = TraceCarrier()

    @app.action("outbound")
    async def outbound(body: In) -> dict[str, str]:
        from plugwork.context import get_context

        headers: dict[str, str] = {}
        carrier.inject(get_context(), headers)
        return headers

    async with app:
        ctx = Context(transport="http", trace={"traceparent": TRACEPARENT, "baggage": "user=alice"})
        out = await app.invoke("outbound", {}, context=ctx)
    await asyncio.to_thread(runtime.shutdown)
    [span] = otlp.wait_for_spans(1)
    assert out.output["traceparent"] == f"00-{TRACE_ID}-{span.span_id}-01"
    assert out.output["baggage"] == "user=alice"
    passthrough: dict[str, str] = {}
    carrier.inject(Context(trace={"traceparent": TRACEPARENT}), passthrough)
    assert passthrough == {"traceparent": TRACEPARENT}


def test_carrier_drops_oversized_headers() -> None:
    ctx = Context()
    TraceCarrier().extract({"traceparent": TRACEPARENT, "tracestate": "k=" + "v" * 600}, ctx)
    assert ctx.trace == {"traceparent": TRACEPARENT}


def test_settings_from_standard_and_usvc_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_USER", "alice")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PASSWORD", "s3cret")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a%20b,bad")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.01")
    config = load()
    assert config.tracing_on and not config.logs_on
    assert config.service_name == "svc" and config.sampler_arg == 0.01
    assert config.signal_endpoint("traces") == "http://collector:4318/v1/traces"
    assert config.export_headers() == {"x-tenant": "a b", "authorization": "Basic YWxpY2U6czNjcmV0"}
    assert "s3cret" not in repr(config)


def test_generic_endpoint_gets_signal_paths_over_http_only() -> None:
    http = load(endpoint="http://c:4318/")
    assert (http.signal_endpoint("traces"), http.signal_endpoint("logs")) == (
        "http://c:4318/v1/traces",
        "http://c:4318/v1/logs",
    )
    assert load(endpoint="http://c:4317", protocol="grpc").signal_endpoint("traces") == "http://c:4317"
    assert not load().tracing_on


async def test_grpc_protocol_exports_to_a_grpc_receiver(otlp: OTLPReceiver) -> None:
    address = otlp.start_grpc()
    config = load(endpoint=f"http://{address}", protocol="grpc", user="collector", password="pw")
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    async with app:
        ctx = Context(transport="http", trace={"traceparent": TRACEPARENT})
        assert (await app.invoke("hello", {"name": "g"}, context=ctx)).ok
    await asyncio.to_thread(runtime.shutdown)
    [span] = otlp.wait_for_spans(1)
    assert (span.name, span.trace_id, span.parent_span_id) == ("HTTP", TRACE_ID, PARENT)
    assert otlp.headers[-1]["authorization"] == "Basic Y29sbGVjdG9yOnB3"


def test_yaml_section_and_errors_name_the_key(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugwork.errors import ConfigError

    config = tmp_path / "plugwork.yaml"
    config.write_text(
        "plugins:\n  tracing:\n    endpoint: http://collector:4318\n"
        "    queue_propagation: {reports: link, '*': child}\n    sampler_arg: 0.25\n"
    )
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    loaded = load_plugin_settings(TracingSettings, "tracing", load_settings(config, env_file=None))
    assert isinstance(loaded, TracingSettings)
    assert (loaded.sampler, loaded.sampler_arg, loaded.tracing_on) == ("traceidratio", 0.25, True)
    assert (loaded.propagation("reports"), loaded.propagation("other")) == ("link", "child")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    with pytest.raises(ConfigError, match=r"plugins\.tracing\.sampler"):
        load_plugin_settings(TracingSettings, "tracing", load_settings(config, env_file=None))


@pytest.mark.parametrize(
    ("name", "arg"),
    [
        ("always_on", 1.0),
        ("always_off", 1.0),
        ("traceidratio", 0.25),
        ("parentbased_always_on", 1.0),
        ("parentbased_always_off", 1.0),
        ("parentbased_traceidratio", 0.01),
        ("parentbased_traceidratio", 0.5),
    ],
)
def test_the_sampling_shortcut_decides_as_the_sdk_sampler(name: str, arg: float) -> None:
    import random

    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision

    from plugwork.observability.otel import _sampler, sampling_decision
    from plugwork.observability.tracing_settings import TracingSettings

    settings = TracingSettings(sampler=name, sampler_arg=arg)
    sdk, decide = _sampler(settings), sampling_decision(settings)
    rng = random.Random(7)
    parents = [None] + [
        trace.SpanContext(
            rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, remote, trace.TraceFlags(flags)
        )
        for remote in (False, True)
        for flags in (0, 1, 2, 3)
    ]
    decisions = set()
    for parent in parents:
        context = None if parent is None else trace.set_span_in_context(trace.NonRecordingSpan(parent))
        for _ in range(400):
            trace_id = parent.trace_id if parent is not None else rng.getrandbits(128) or 1
            result = sdk.should_sample(context, trace_id, "x", trace.SpanKind.SERVER, None, ())
            expected = result.decision is Decision.RECORD_AND_SAMPLE
            assert decide(parent, trace_id) is expected, (parent, trace_id)
            decisions.add(expected)
    # Each sampler that can go both ways did, so the comparison covered both answers.
    assert decisions == ({True, False} if "ratio" in name or "parentbased" in name else {name == "always_on"})


async def test_an_action_served_by_a_fastapi_router_is_named_by_its_route(otlp: OTLPReceiver) -> None:
    pytest.importorskip("fastapi")
    import fastapi
    import httpx

    from plugwork.fastapi import action_router

    config = settings(otlp)
    runtime = OtelRuntime(config, "traced")
    app = traced_app(runtime, config)
    outer = fastapi.FastAPI()
    outer.include_router(action_router(app, prefix="/rpc"))
    async with app:
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post("/rpc/hello", json={"name": "f"}, headers={"traceparent": TRACEPARENT})
        assert answer.status_code == 200, answer.text
    await asyncio.to_thread(runtime.shutdown)
    spans = otlp.wait_for_spans(1)
    # FastAPI's own instrumentation may add its spans around ours (same trace): ours is the one naming the
    # action, with FastAPI's route template from the request's scope.
    [span] = [s for s in spans if "plugwork.action" in s.attributes]
    assert (span.name, span.kind, span.trace_id) == ("POST /rpc/hello", "SERVER", TRACE_ID)
    assert span.attributes["http.route"] == "/rpc/hello" and span.attributes["url.path"] == "/rpc/hello"
