"""The Plugboard consumer against a fake Vera Plugboard (tests/plugboard/fake_plugboard.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from consumer_fixtures import Gate, build
from fake_plugboard import ACTIONS_MISMATCH, TOKEN_INVALID, FakePlugboard
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from plugwork.actions import Action
from plugwork.dispatch import Dispatcher
from plugwork.errors import ConfigError
from plugwork.plugboard.consumer import PlugboardConsumer
from plugwork.plugboard.consumer_link import text_frame
from plugwork.plugboard.protocol import HEARTBEAT, PHX_LEAVE, SERVICE_TOPIC, Message, reply
from plugwork.plugboard.schema import actions_map

FAST: dict[str, Any] = {"reconnect_min": 0.01, "reconnect_max": 0.05, "connect_timeout": 5.0}


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def app(gate: Gate) -> tuple[dict[str, Action], Dispatcher]:
    return build(gate)


@pytest.fixture
async def hub() -> AsyncIterator[FakePlugboard]:
    async with FakePlugboard() as fake:
        yield fake


def make(
    hub: FakePlugboard, app: tuple[dict[str, Action], Dispatcher], token: str = "secret-token", **options: Any
) -> PlugboardConsumer:
    actions, dispatcher = app
    return PlugboardConsumer(hub.url, token, dispatcher, actions, **{**FAST, **options})


@contextlib.asynccontextmanager
async def serving(consumer: PlugboardConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 10)


async def joined(hub: FakePlugboard, consumer: PlugboardConsumer, count: int = 1) -> None:
    await hub.wait_until(lambda: hub.joins >= count and consumer.health()[0] == "GREEN")


# ------------------------------------------------------------------------------------- connecting


async def test_v1_connect_params_carry_token_and_actions_and_no_vsn(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        (conn,) = hub.connections
        assert conn.params["token"] == "secret-token"
        assert orjson.loads(conn.params["actions"]) == actions_map(app[0])
        assert "vsn" not in conn.params
        assert conn.serializer.vsn == "1.0.0"
        join = next(m for m in conn.received if m.event == "phx_join")
        assert (join.topic, join.payload) == ("service", {})


async def test_debug_logging_never_shows_the_token(hub, app, caplog):
    # websockets logs the request line at DEBUG, and the token rides in its query string.
    caplog.set_level(logging.DEBUG)
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        assert (await hub.request("add", {"a": 1, "b": 2}))["fields"] == {"result": 3}
    ours = [r for r in caplog.records if not r.name.startswith("websockets.server")]  # not the fake hub's
    assert not [r for r in ours if "secret-token" in r.getMessage()]


async def test_v2_sends_vsn_and_speaks_arrays(hub, app):
    consumer = make(hub, app, vsn="2.0.0")
    async with serving(consumer):
        await joined(hub, consumer)
        (conn,) = hub.connections
        assert conn.params["vsn"] == "2.0.0"
        assert conn.serializer.vsn == "2.0.0"
        join = next(m for m in conn.received if m.event == "phx_join")
        assert join.join_ref == join.ref is not None
        response = await hub.request("add", {"a": 2, "b": 3})
        assert response == {"status_code": 200, "message": None, "fields": {"result": 5}}
        answer = next(m for m in conn.received if m.event == "response")
        assert answer.join_ref == join.join_ref  # a V2 push carries its channel's join_ref


class PushRightAfterTheJoinReply(FakePlugboard):
    """Answers the join and pushes a newer consumer count in the same write (one read for the consumer)."""

    async def _join(self, conn: Any, message: Message) -> None:
        conn.joined, conn.join_ref = True, message.join_ref or message.ref
        self.joins += 1
        response = {"service": self.service, "token": conn.token, "num_consumers": 1}
        newer = Message(SERVICE_TOPIC, "num_consumers", {"num_consumers": 3}, None, conn.join_ref)
        protocol = conn.ws.protocol
        for frame in (reply(message, "ok", response), newer):
            protocol.send_text(conn.serializer.encode(frame).encode())
        conn.ws.transport.writelines(protocol.data_to_send())


async def test_a_push_read_right_after_the_join_reply_is_newer_than_the_reply(app):
    async with PushRightAfterTheJoinReply() as hub:
        consumer = make(hub, app)
        async with serving(consumer):
            await joined(hub, consumer)
            assert consumer.health()[1]["num_consumers"] == 3


async def test_join_reply_state_is_kept_and_token_value_never_shown(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        status, details = consumer.health()
        assert status == "GREEN"
        assert details["connected"] is True
        assert details["service"] == hub.service
        assert details["token"]["id"] == "tok-1"
        assert details["token"]["expires_at"] == "2027-11-22T10:00:00Z"
        assert details["num_consumers"] == 1
        assert details["reconnects"] == 0
        assert "secret-token" not in repr(details)


def test_bad_configuration_is_refused_early(app):
    actions, dispatcher = app
    with pytest.raises(ConfigError, match="url"):
        PlugboardConsumer("ftp://example.com/websocket", "t", dispatcher, actions)
    with pytest.raises(ConfigError, match="Port"):
        PlugboardConsumer("ws://example.com:99999/websocket", "t", dispatcher, actions)
    with pytest.raises(ConfigError, match="vsn"):
        PlugboardConsumer("ws://example.com/websocket", "t", dispatcher, actions, vsn="3.0.0")
    with pytest.raises(ConfigError, match="token"):
        PlugboardConsumer("ws://example.com/websocket", "", dispatcher, actions)
    with pytest.raises(ConfigError, match="max_in_flight"):
        PlugboardConsumer("ws://example.com/websocket", "t", dispatcher, actions, max_in_flight=0)
    consumer = PlugboardConsumer("http://example.com/websocket?region=eu", "a b&c", dispatcher, actions)
    assert consumer.connect_url.startswith("ws://example.com/websocket?region=eu&token=a%20b%26c&actions=%7B")


# ------------------------------------------------------------------------------------- requests


async def test_success_answers_200_with_output_fields(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        future = await hub.start_request("echo", {"text": "ab", "times": 2})
        response = await asyncio.wait_for(future, 5)
        ref = hub.responses[-1][0]
        assert response == {
            "status_code": 200,
            "message": None,
            "fields": {"text": "abab", "transport": "plugboard", "request_id": ref},
        }


async def test_unknown_action_answers_404(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        response = await hub.request("nope", {})
        assert response == {"status_code": 404, "message": "Unknown action: nope", "fields": {}}


async def test_invalid_input_answers_400_naming_the_field(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        response = await hub.request("echo", {"text": "x", "times": 99})
        assert response["status_code"] == 400
        assert response["message"] == "Invalid input"
        assert [e["field"] for e in response["fields"]["errors"]] == ["times"]


async def test_handler_error_answers_500_without_leaking_it(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        response = await hub.request("boom", {})
        assert response == {"status_code": 500, "message": "Internal server error", "fields": {}}


async def test_other_errors_keep_their_status_and_message(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        response = await hub.request("forbidden", {})
        assert response == {"status_code": 403, "message": "not for you", "fields": {"role": "guest"}}


async def test_frame_limit_counts_utf8_bytes_not_characters(hub, app):
    # 3,000 characters fit a 4,000-byte limit, but as UTF-8 "é" they take some 6,000 bytes on the wire.
    consumer = make(hub, app, max_frame_bytes=4000)
    async with serving(consumer):
        await joined(hub, consumer)
        response = await hub.request("echo", {"text": "é" * 300, "times": 10})
        assert response["status_code"] == 500
        assert response["message"].startswith("Response too large")


async def test_malformed_frames_are_skipped(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        await hub.send_raw("{not json")
        await hub.send_raw("[1, 2, 3]")
        await hub.send_raw(orjson.dumps({"topic": "service", "event": "request", "payload": {}, "ref": None}))
        await hub.send_raw(orjson.dumps({"topic": "service", "event": "request", "payload": 7, "ref": None}))
        response = await hub.request("add", [1, 2])
        assert response == {
            "status_code": 400,
            "message": "Malformed request: 'fields' must be an object",
            "fields": {},
        }
        assert (await hub.request("add", {"a": 1, "b": 1}))["fields"] == {"result": 2}
        status, details = consumer.health()
        assert status == "GREEN"
        assert details["malformed_frames"] == 4
        assert hub.joins == 1  # no reconnect was needed


async def test_pings_and_fragmented_requests_are_read_like_any_frame(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        conn = hub.connections[0]
        await asyncio.wait_for(await conn.ws.ping(), 5)  # a WebSocket ping: websockets answers it
        future = await hub.start_request("add", {"a": 1, "b": 2})  # sent whole; then one sent in parts
        request = {"action": "add", "fields": {"a": 2, "b": 2}, "response_ref": "in-parts"}
        frame = orjson.dumps(
            {"topic": "service", "event": "request", "payload": request, "ref": None}
        ).decode()
        await conn.ws.send(iter([frame[:7], frame[7:40], frame[40:]]))
        assert (await asyncio.wait_for(future, 5))["fields"] == {"result": 3}
        await hub.wait_until(lambda: any(ref == "in-parts" for ref, _ in hub.responses))
        assert dict(hub.responses)["in-parts"]["fields"] == {"result": 4}
        assert consumer.health()[1]["malformed_frames"] == 0 and hub.joins == 1


# ------------------------------------------------------------------------------------- state pushes


async def test_pushes_update_service_consumers_and_tokens(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        renamed = {**hub.service, "name": "billing-v2"}
        await hub.push("service_updated", {"service": renamed})
        await hub.push("num_consumers", {"num_consumers": 3})
        new_token = hub.add_token("rotated-token", "tok-2")
        await hub.push("token_created", {"token": {**new_token, "value": "rotated-token"}})
        await hub.wait_until(lambda: (consumer.health()[1]["token"] or {}).get("id") == "tok-2")
        details = consumer.health()[1]
        assert details["service"]["name"] == "billing-v2"
        assert details["num_consumers"] == 3
        assert "rotated-token" not in repr(details)
        await hub.push("token_deleted", {"token": hub.tokens.pop("secret-token")})
        # the next connection uses the rotated token, as Vera's consumer does
        hub.drop()
        await hub.wait_until(lambda: hub.joins == 2 and consumer.health()[0] == "GREEN")
        assert hub.connections[0].params["token"] == "rotated-token"


async def test_deleting_the_newest_token_falls_back_to_an_older_one(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        new_token = hub.add_token("rotated-token", "tok-2")
        await hub.push("token_created", {"token": {**new_token, "value": "rotated-token"}})
        del hub.tokens["rotated-token"]
        await hub.push("token_deleted", {"token": new_token})
        await hub.wait_until(lambda: consumer.connect_url.find("rotated-token") < 0)
        hub.drop()
        await hub.wait_until(lambda: hub.joins == 2 and consumer.health()[0] == "GREEN")
        assert hub.connections[0].params["token"] == "secret-token"


async def test_an_expired_or_deleted_token_turns_health_yellow(app):
    async with FakePlugboard() as hub:
        hub.tokens["secret-token"]["expires_at"] = "2000-01-01T00:00:00Z"
        consumer = make(hub, app)
        async with serving(consumer):
            await hub.wait_until(lambda: consumer.health()[1]["connected"])
            status, details = consumer.health()
            assert status == "YELLOW"
            assert details["reason"] == "the service token has expired; reconnecting will fail"
            await hub.push("token_deleted", {"token": hub.tokens["secret-token"]})
            await hub.wait_until(lambda: "tok-1 was deleted" in (consumer.health()[1].get("reason") or ""))
            assert consumer.health()[0] == "YELLOW"


async def test_service_deleted_stops_consuming_and_turns_red(hub, app):
    consumer = make(hub, app)
    task = asyncio.create_task(consumer.run())
    await joined(hub, consumer)
    await hub.push("service_deleted", {"service": hub.service})
    await asyncio.wait_for(task, 5)  # run() returns by itself: no reconnect loop
    status, details = consumer.health()
    assert status == "RED"
    assert "billing" in details["reason"] and "deleted" in details["reason"]
    assert hub.joins == 1
    await hub.wait_until(lambda: not hub.connections)


# ------------------------------------------------------------------------------------- resilience


async def test_reconnects_after_the_server_drops_the_socket(hub, app):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        hub.drop()
        await hub.wait_until(lambda: hub.joins == 2 and consumer.health()[0] == "GREEN")
        assert consumer.health()[1]["reconnects"] == 1
        assert (await hub.request("add", {"a": 20, "b": 22}))["fields"] == {"result": 42}


async def test_a_request_in_flight_when_the_socket_drops_does_not_block_later_ones(hub, app, gate):
    consumer = make(hub, app)
    async with serving(consumer):
        await joined(hub, consumer)
        await hub.start_request("slow", {"tag": "lost"})
        await hub.wait_until(lambda: gate.started == 1)
        hub.drop()
        await hub.wait_until(lambda: hub.joins == 2 and consumer.health()[0] == "GREEN")
        gate.release.set()
        await hub.wait_until(lambda: consumer.health()[1]["dropped_responses"] == 1)
        assert (await hub.request("slow", {"tag": "after"}))["fields"] == {"tag": "after"}


async def test_heartbeats_are_sent_and_answered(hub, app):
    consumer = make(hub, app, heartbeat_interval=0.01)
    async with serving(consumer):
        await joined(hub, consumer)
        await hub.wait_until(lambda: consumer.health()[1]["heartbeats"] >= 3)
        beats = [m for m in hub.connections[0].received if m.event == HEARTBEAT]
        assert len(beats) >= 3
        assert {(m.topic, orjson.dumps(m.payload)) for m in beats} == {("phoenix", b"{}")}
        assert len({m.ref for m in beats}) == len(beats)
        assert hub.joins == 1


async def test_an_unanswered_heartbeat_means_a_dead_connection(app):
    async with FakePlugboard(reply_heartbeats=False) as hub:
        consumer = make(hub, app, heartbeat_interval=0.01, heartbeat_timeout=0.02)
        async with serving(consumer):
            await hub.wait_until(lambda: hub.joins >= 2)
            assert "heartbeat" in consumer.health()[1]["last_error"]


async def test_an_invalid_token_is_refused_red_then_retried(hub, app):
    consumer = make(hub, app, token="not-yet-valid")
    async with serving(consumer):
        await hub.wait_until(lambda: len(hub.refusals) >= 2)  # retried with backoff
        status, details = consumer.health()
        assert status == "RED"
        assert TOKEN_INVALID in details["reason"]
        assert "HTTP 403" in details["last_error"]
        hub.add_token("not-yet-valid", "tok-9")  # the token is created later
        await joined(hub, consumer)
        assert consumer.health()[1]["token"]["id"] == "tok-9"


async def test_a_different_actions_map_is_refused(hub, app, gate):
    first = make(hub, app)
    specs, dispatcher = app
    fewer = {k: v for k, v in specs.items() if k != "boom"}
    second = PlugboardConsumer(hub.url, "secret-token", dispatcher, fewer, **FAST)
    async with serving(first):
        await joined(hub, first)
        async with serving(second):
            await hub.wait_until(lambda: second.health()[0] == "RED")
            assert ACTIONS_MISMATCH in second.health()[1]["reason"]
        assert first.health()[0] == "GREEN"


async def test_a_refused_join_is_red_with_the_reason(app):
    async with FakePlugboard(join_error="service unavailable") as hub:
        consumer = make(hub, app)
        async with serving(consumer):
            await hub.wait_until(lambda: consumer.health()[0] == "RED")
            assert "service unavailable" in consumer.health()[1]["reason"]


# ------------------------------------------------------------------------------------- load and shutdown


async def test_in_flight_requests_are_limited(hub, app, gate):
    consumer = make(hub, app, max_in_flight=2, max_pending=10)
    async with serving(consumer):
        await joined(hub, consumer)
        futures = [await hub.start_request("slow", {"tag": str(i)}) for i in range(5)]
        await hub.wait_until(lambda: gate.started == 2 and consumer.health()[1]["waiting"] == 3)
        assert consumer.health()[0] == "YELLOW"
        assert consumer.health()[1]["in_flight"] == 2
        gate.release.set()
        responses = await asyncio.wait_for(asyncio.gather(*futures), 5)
        assert [r["status_code"] for r in responses] == [200] * 5
        assert gate.peak == 2
        assert consumer.health()[0] == "GREEN"


async def test_requests_beyond_the_waiting_line_get_503_at_once(hub, app, gate):
    consumer = make(hub, app, max_in_flight=1, max_pending=1)
    async with serving(consumer):
        await joined(hub, consumer)
        held = [await hub.start_request("slow", {"tag": str(i)}) for i in range(2)]
        await hub.wait_until(lambda: gate.started == 1 and consumer.health()[1]["waiting"] == 1)
        refused = await hub.request("slow", {"tag": "extra"})
        assert refused["status_code"] == 503
        assert "overloaded" in refused["message"]
        gate.release.set()
        assert [r["status_code"] for r in await asyncio.gather(*held)] == [200, 200]


async def test_stop_finishes_in_flight_requests_then_leaves(hub, app, gate):
    consumer = make(hub, app, drain_timeout=5)
    task = asyncio.create_task(consumer.run())
    await joined(hub, consumer)
    conn = hub.connections[0]
    in_flight = await hub.start_request("slow", {"tag": "last"})
    await hub.wait_until(lambda: gate.started == 1)
    stopping = asyncio.create_task(consumer.stop())
    await hub.wait_until(lambda: consumer.health()[1]["stopping"])
    late = await hub.request("add", {"a": 1, "b": 2})  # arrives while draining
    assert late == {"status_code": 503, "message": "Consumer is shutting down", "fields": {}}
    assert not in_flight.done()
    gate.release.set()
    assert (await asyncio.wait_for(in_flight, 5))["fields"] == {"tag": "last"}
    await asyncio.wait_for(stopping, 5)
    await asyncio.wait_for(task, 5)
    events = [m.event for m in conn.received]
    assert events.index(PHX_LEAVE) > max(i for i, e in enumerate(events) if e == "response")
    assert conn.left
    assert consumer.health()[0] == "RED"


async def test_stop_is_bounded_by_the_drain_timeout(hub, app, gate):
    consumer = make(hub, app, drain_timeout=0.05)
    async with serving(consumer):
        await joined(hub, consumer)
        stuck = await hub.start_request("slow", {"tag": "never"})
        await hub.wait_until(lambda: gate.started == 1)
    # the handler never finished: its producer is told at once instead of waiting for its own timeout
    assert (await asyncio.wait_for(stuck, 5)) == {
        "status_code": 503,
        "message": "Consumer is shutting down",
        "fields": {},
    }
    assert gate.finished == []


# ------------------------------------------------------------------------------------- outcome mapping


def test_response_payload_for_every_kind_of_outcome():
    from plugwork.dispatch import Outcome
    from plugwork.errors import ErrorCode
    from plugwork.plugboard.consumer_responses import response_payload

    assert response_payload("a", Outcome.success(None)) == {"status_code": 200, "message": None, "fields": {}}
    assert response_payload("a", Outcome.success([1, 2]))["fields"] == {"result": [1, 2]}
    created = Outcome.success({"id": 7}, status=201, message="created")
    assert response_payload("a", created) == {"status_code": 201, "message": "created", "fields": {"id": 7}}
    assert response_payload("a", Outcome.success(object())) == {
        "status_code": 500,
        "message": "Internal server error",
        "fields": {},
    }
    unknown = Outcome.failure(ErrorCode.UNKNOWN_ACTION, "whatever")
    assert response_payload("x", unknown)["message"] == "Unknown action: x"
    assert response_payload("x", unknown)["status_code"] == 404
    timeout = Outcome.failure(ErrorCode.TIMEOUT, "Action a timed out")
    expected = {"status_code": 504, "message": "Action a timed out", "fields": {}}
    assert response_payload("a", timeout) == expected
    odd = Outcome.failure(ErrorCode.CONFLICT, "taken", details="name")
    assert response_payload("a", odd)["fields"] == {"errors": "name"}


async def test_no_task_outlives_run_after_stop_cancels_a_stuck_handler(hub, app, gate):
    """stop() cancels a stuck handler, whose 503 goes out without waiting on the socket; nothing the consumer
    started is still pending once run() has returned."""
    consumer = make(hub, app, drain_timeout=0.05, send_timeout=0.2)
    task = asyncio.create_task(consumer.run())
    await joined(hub, consumer)
    stuck = await hub.start_request("slow", {"tag": "stuck"})
    await hub.wait_until(lambda: gate.started == 1)
    await asyncio.wait_for(consumer.stop(), 10)
    await asyncio.wait_for(task, 10)
    lingering = [t for t in asyncio.all_tasks() if not t.done() and "PlugboardConsumer" in repr(t.get_coro())]
    assert lingering == []
    assert (await asyncio.wait_for(stuck, 5))["message"] == "Consumer is shutting down"


async def test_a_hub_that_stops_reading_gets_the_connection_dropped_after_send_timeout(hub, app):
    """Responses pile up while the hub reads nothing: the consumer stops reading requests, and drops the
    connection once its sends have been blocked for send_timeout (then reconnects)."""
    consumer = make(hub, app, send_timeout=0.2, max_frame_bytes=4 * 1024 * 1024)
    async with serving(consumer):
        await joined(hub, consumer)
        conn = hub.connections[0]
        conn.ws.transport.pause_reading()
        for _ in range(40):  # 40 MB of answers: more than the socket buffers hold
            try:
                await hub.start_request("echo", {"text": "x" * 100_000, "times": 10}, conn)
            except ConnectionClosed:  # on a slow machine the drop this test waits for comes before all 40
                break
        await hub.wait_until(lambda: "send blocked" in (consumer.health()[1]["last_error"] or ""))
        await joined(hub, consumer, count=2)  # and it came back


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_the_consumers_own_frames_are_what_a_websocket_server_reads(size: int) -> None:
    data = bytes(range(32, 127)) * (size // 95) + b"x" * (size % 95)
    server = ServerProtocol(state=State.OPEN, max_size=None)
    server.receive_data(text_frame(data, os.urandom(4)))
    [frame] = server.events_received()
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, data)
    assert server.parser_exc is None
