"""The consumer WebSocket: connect refusals, join reply, heartbeats, V1/V2, malformed frames, idle drop."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
import websockets
from hub_helpers import ACTIONS, Credentials, RunningHub, V1Consumer, fast_settings, produce, running_hub
from websockets.exceptions import ConnectionClosed, InvalidStatus

from plugwork.plugboard.hub.sockets import ACTIONS_MISMATCH, AUTH_REQUIRED, INVALID_TOKEN


async def refusal(url: str, **kwargs: object) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kwargs):  # type: ignore[arg-type]
            pass
    response = info.value.response
    return response.status_code, response.body.decode()


async def test_missing_token_is_refused(hub: RunningHub, creds: Credentials) -> None:
    assert await refusal(hub.ws_url(None)) == (401, AUTH_REQUIRED)


async def test_invalid_token_is_refused(hub: RunningHub, creds: Credentials) -> None:
    assert await refusal(hub.ws_url("not-a-token")) == (403, INVALID_TOKEN)


async def test_expired_token_is_refused(hub: RunningHub, creds: Credentials) -> None:
    store = hub.hub.store
    token = await store.create_token(creds.service_id, validity_days=1)
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE plugboard_tokens SET expires_at = $1 WHERE id = $2", "2000-01-01T00:00:00Z", token.id
        )
    assert token.value
    assert await refusal(hub.ws_url(token.value)) == (403, INVALID_TOKEN)


async def test_token_of_deleted_service_is_refused(hub: RunningHub, creds: Credentials) -> None:
    await hub.hub.store.delete_service(creds.service_id)
    assert await refusal(hub.ws_url(creds.token)) == (403, INVALID_TOKEN)


async def test_actions_that_differ_from_other_consumers_are_refused(
    hub: RunningHub, creds: Credentials
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as first:
        await first.join()
        other = {"Other": {"description": "", "fields": {}}}
        assert await refusal(hub.ws_url(creds.token, actions=other)) == (403, ACTIONS_MISMATCH)
        # the same map, in another key order, is the same map
        same = json.dumps(dict(reversed(list(ACTIONS["Echo"].items()))))
        async with V1Consumer.connect(hub.ws_url(creds.token, actions=f'{{"Echo": {same}}}')) as second:
            assert (await second.join())["payload"]["status"] == "ok"
    # once the last consumer left, a new map is accepted
    async with V1Consumer.connect(hub.ws_url(creds.token, actions=other)) as third:
        assert (await third.join())["payload"]["status"] == "ok"


async def test_bad_actions_and_vsn_are_refused(hub: RunningHub, creds: Credentials) -> None:
    status, body = await refusal(hub.ws_url(creds.token, actions="{not json"))
    assert status == 400 and "actions is not valid JSON" in body
    status, body = await refusal(hub.ws_url(creds.token, actions="[1, 2]"))
    assert status == 400 and "actions must be a JSON object" in body
    status, body = await refusal(hub.ws_url(creds.token, vsn="9.0.0"))
    assert status == 400 and "vsn" in body


async def test_v1_join_reply_and_heartbeat(hub: RunningHub, creds: Credentials) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        reply = await consumer.join()
        assert reply["topic"] == "service" and reply["event"] == "phx_reply"
        assert reply["payload"]["status"] == "ok"
        response = reply["payload"]["response"]
        assert set(response) == {"service", "token", "num_consumers"}
        assert response["num_consumers"] == 1
        assert response["service"]["id"] == creds.service_id
        assert set(response["service"]) == {"id", "name", "inserted_at", "updated_at"}
        assert set(response["token"]) == {"id", "context", "service_id", "inserted_at", "expires_at"}
        assert (
            response["token"]["id"] == creds.token_id and response["token"]["service_id"] == creds.service_id
        )
        ref = await consumer.send("phoenix", "heartbeat", {})
        beat = await consumer.recv_event("phx_reply")
        assert beat == {
            "topic": "phoenix",
            "event": "phx_reply",
            "ref": ref,
            "payload": {"status": "ok", "response": {}},
        }


async def test_v2_frames_and_subprotocol_token(hub: RunningHub, creds: Credentials) -> None:
    encoded = base64.urlsafe_b64encode(creds.token.encode()).decode().rstrip("=")
    url = hub.ws_url(None, vsn="2.0.0")
    protocols = ["phoenix", f"base64url.bearer.phx.{encoded}"]
    async with websockets.connect(url, subprotocols=protocols) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "phoenix"
        await ws.send(json.dumps(["7", "7", "service", "phx_join", {}]))
        reply = json.loads(await ws.recv())
        assert reply[:4] == ["7", "7", "service", "phx_reply"] and reply[4]["status"] == "ok"
        await ws.send(json.dumps([None, "8", "phoenix", "heartbeat", {}]))
        # The heartbeat reply and num_consumers, in either order; the creds fixture's token_created may be
        # broadcast in between (the store's events reach sockets joined after the change was made).
        beat = [None, "8", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
        count = ["7", None, "service", "num_consumers", {"num_consumers": 1}]
        frames: list[list[object]] = []
        while not (beat in frames and count in frames):
            assert len(frames) < 5, frames
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert all(f in (beat, count) or f[3] == "token_created" for f in frames), frames


async def test_unknown_and_unjoined_topics_get_error_replies(hub: RunningHub, creds: Credentials) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        ref = await consumer.send("service", "response", {"status_code": 200}, ref="r1")
        reply = await consumer.recv_event("phx_reply")
        assert reply["ref"] == ref and reply["payload"] == {
            "status": "error",
            "response": {"reason": "unmatched topic"},
        }
        await consumer.send("rooms:lobby", "phx_join", {})
        reply = await consumer.recv_event("phx_reply")
        assert reply["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
        await consumer.join()
        await consumer.send("service", "shout", {})
        reply = await consumer.recv_event("phx_reply")
        assert reply["payload"]["status"] == "error" and "shout" in reply["payload"]["response"]["reason"]
        # the connection is still fine
        await consumer.send("phoenix", "heartbeat", {})
        assert (await consumer.recv_event("phx_reply"))["payload"]["status"] == "ok"


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        ("{not json", 1007, "not valid JSON"),
        ('["1", "1", "service", "phx_join"]', 1007, "V1 frame must be a JSON object"),
        ('{"topic": "service", "event": "phx_join"}', 1007, "lacks key"),
        ('{"topic": 5, "event": "phx_join", "payload": {}, "ref": null}', 1007, "topic"),
    ],
)
async def test_malformed_frames_close_only_that_socket(
    hub: RunningHub, creds: Credentials, frame: str, code: int, words: str
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as bystander:
        await bystander.join()
        async with V1Consumer.connect(hub.ws_url(creds.token)) as broken:
            await broken.ws.send(frame)
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await broken.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == code and words in info.value.rcvd.reason
        await bystander.send("phoenix", "heartbeat", {})
        assert (await bystander.recv_event("phx_reply"))["payload"]["status"] == "ok"


async def test_v2_wrong_arity_closes(hub: RunningHub, creds: Credentials) -> None:
    async with websockets.connect(hub.ws_url(creds.token, vsn="2.0.0")) as ws:
        await ws.send(json.dumps(["1", "1", "service", "phx_join"]))
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007
        assert "5 elements" in info.value.rcvd.reason


async def test_oversized_frame_closes_with_1009(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, max_frame_bytes=2000)) as running:
        from hub_helpers import make_credentials

        creds = await make_credentials(running.hub)
        async with V1Consumer.connect(running.ws_url(creds.token)) as consumer:
            await consumer.send("phoenix", "heartbeat", {"pad": "x" * 3000})
            with pytest.raises(ConnectionClosed) as info:
                await consumer.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_silent_sockets_are_dropped(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, idle_timeout=0.3)) as running:
        from hub_helpers import make_credentials

        creds = await make_credentials(running.hub)
        async with V1Consumer.connect(running.ws_url(creds.token)) as silent:
            await silent.join()
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await silent.recv(timeout=5)
            assert info.value.rcvd is not None and "no message" in info.value.rcvd.reason
        assert running.hub.router.count(creds.service_id) == 0


async def test_heartbeats_keep_a_socket_alive(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, idle_timeout=1.5)) as running:
        from hub_helpers import make_credentials

        creds = await make_credentials(running.hub)
        async with V1Consumer.connect(running.ws_url(creds.token)) as consumer:
            await consumer.join()
            for _ in range(12):  # 12 x 0.2 s: longer than the idle timeout
                await asyncio.sleep(0.2)
                await consumer.send("phoenix", "heartbeat", {})
                await consumer.recv_event("phx_reply")
            assert running.hub.router.count(creds.service_id) == 1


async def test_leave_stops_routing(hub: RunningHub, creds: Credentials, client: httpx.AsyncClient) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        ref = await consumer.send("service", "phx_leave", {})
        reply = await consumer.recv_event("phx_reply")
        assert reply["ref"] == ref and reply["payload"]["status"] == "ok"
        response = await produce(
            client, creds.account_token, {"service_id": creds.service_id, "action": "Echo"}
        )
        assert response.status_code == 422


async def test_pings_fragmented_messages_and_invalid_utf8_on_the_frame_reader(
    hub: RunningHub, creds: Credentials
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        await asyncio.wait_for(await consumer.ws.ping(), 5)  # a WebSocket ping: websockets answers it
        frame = json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "in-parts"})
        await consumer.ws.send(iter([frame[:10], frame[10:30], frame[30:]]))  # one message, three frames
        assert (await consumer.recv_event("phx_reply"))["ref"] == "in-parts"
        await consumer.ws.send(b'{"topic": "\xff"}', text=True)  # a text frame that is not UTF-8
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await consumer.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1007
