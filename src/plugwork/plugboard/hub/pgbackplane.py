"""Scale-out over PostgreSQL: hubs sharing one store act as one hub, through ``LISTEN``/``NOTIFY``.

- ``plugboard_hubs`` lists the live hubs; each heartbeats every ``heartbeat_interval`` seconds and reaps
  hubs silent for ``dead_after`` seconds (their ``plugboard_consumers`` rows go with them, by cascade).
- ``plugboard_consumers`` says which hub holds which consumer. Joins and leaves are also announced on the
  events channel, so every hub keeps the whole picture in memory (and re-reads the table at each heartbeat,
  in case a notification was missed).
- A request routed to a consumer on hub B is a ``NOTIFY`` on B's channel; the answer comes back the same way
  on the origin hub's channel. Payloads over 8000 bytes travel as a ``plugboard_payloads`` row.
- Store changes (``token_created``, ...) are notified by the store itself on the events channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from ...extras import require
from .postgres import LARGE_PREFIX, PostgresHubStore, notify
from .router import Answer, Consumer, HubError

if TYPE_CHECKING:
    import asyncpg

    from .core import Hub
else:
    asyncpg = require("asyncpg", extra="postgres")

log = logging.getLogger(__name__)
PAYLOAD_RETENTION = "5 minutes"


class PostgresBackplane:
    """The backplane of a hub on a PostgreSQL store."""

    def __init__(
        self, hub: Hub, store: PostgresHubStore, *, heartbeat_interval: float = 5.0, dead_after: float = 15.0
    ) -> None:
        self.hub = hub
        self.store = store
        self.heartbeat_interval = heartbeat_interval
        self.dead_after = dead_after
        self._listener: Any = None
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.pool.execute("INSERT INTO plugboard_hubs (id) VALUES ($1)", self.hub.id)
        await self._listen()
        await self._refresh()
        self._task = asyncio.create_task(self._heartbeat(), name="plugboard-hub-heartbeat")

    async def _listen(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
        self._listener = listener = await asyncpg.connect(self.store.url, timeout=10)
        await listener.add_listener(self.store.events_channel, self._on_event)
        await listener.add_listener(self.store.hub_channel(self.hub.id), self._on_direct)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
        with contextlib.suppress(Exception):
            async with self.store.pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM plugboard_hubs WHERE id = $1", self.hub.id)
                await self._announce(conn, {"kind": "hub_gone", "hub_id": self.hub.id})

    def health(self) -> tuple[bool, dict[str, Any]]:
        listening = self._listener is not None and not self._listener.is_closed()
        ok = listening and self._error is None
        details: dict[str, Any] = {"kind": "postgres", "listening": listening}
        if self._error:
            details["error"] = self._error
        return ok, details

    # -- consumer registry -----------------------------------------------------------------------------------

    async def _announce(self, conn: Any, event: dict[str, Any]) -> None:
        await notify(conn, self.store.events_channel, orjson.dumps(event).decode())

    async def register(self, consumer_id: str, service_id: str, actions: str) -> None:
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO plugboard_consumers (id, hub_id, service_id, actions) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (id) DO NOTHING",
                consumer_id,
                self.hub.id,
                service_id,
                actions,
            )
            consumer = {"id": consumer_id, "hub_id": self.hub.id, "service_id": service_id}
            await self._announce(conn, {"kind": "consumer_joined", "consumer": consumer})

    async def unregister(self, consumer_id: str) -> None:
        async with self.store.pool.acquire() as conn, conn.transaction():
            service_id = await conn.fetchval(
                "DELETE FROM plugboard_consumers WHERE id = $1 RETURNING service_id", consumer_id
            )
            if service_id is not None:
                consumer = {"id": consumer_id, "hub_id": self.hub.id, "service_id": service_id}
                await self._announce(conn, {"kind": "consumer_left", "consumer": consumer})

    async def remote_actions(self, service_id: str) -> set[str]:
        rows = await self.store.pool.fetch(
            "SELECT DISTINCT actions FROM plugboard_consumers WHERE service_id = $1 AND hub_id <> $2",
            service_id,
            self.hub.id,
        )
        return {row["actions"] for row in rows}

    # -- forwarding ------------------------------------------------------------------------------------------

    async def forward_request(
        self,
        hub_id: str,
        consumer_id: str,
        ref: str,
        action: str,
        fields: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The send function of a consumer held by ``hub_id``."""
        body = {"t": "req", "c": consumer_id, "r": ref, "o": self.hub.id, "a": action, "f": fields}
        if headers:
            body["h"] = headers
        try:
            await notify(self.store.pool, self.store.hub_channel(hub_id), orjson.dumps(body).decode())
        except (OSError, asyncpg.PostgresError) as exc:
            raise HubError(503, f"cannot reach the consumer's hub: {exc}") from None

    async def forward_response(self, hub_id: str, consumer_id: str, ref: str, answer: Answer) -> None:
        body = {
            "t": "res",
            "c": consumer_id,
            "r": ref,
            "s": answer.status_code,
            "m": answer.message,
            "f": answer.fields,
        }
        await notify(self.store.pool, self.store.hub_channel(hub_id), orjson.dumps(body).decode())

    # -- notifications ---------------------------------------------------------------------------------------

    def _on_event(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        assert isinstance(payload, str)
        if payload.startswith(LARGE_PREFIX):
            self.hub.spawn(self._resolve_then(payload, self._handle_event, consume=False))
        else:
            self._handle_event(payload)

    def _on_direct(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        assert isinstance(payload, str)
        if payload.startswith(LARGE_PREFIX):
            self.hub.spawn(self._resolve_then(payload, self._handle_direct, consume=True))
        else:
            self._handle_direct(payload)

    async def _resolve_then(self, payload: str, handle: Any, *, consume: bool) -> None:
        handle(await self.store.read_payload(payload, consume=consume))

    def _handle_direct(self, payload: str) -> None:
        try:
            msg = orjson.loads(payload)
            if msg["t"] == "res":
                self.hub.router.resolve(msg["r"], Answer(msg["s"], msg["m"], msg["f"]), msg["c"])
            elif msg["t"] == "req":
                forwarded = self.hub.deliver_forwarded(
                    msg["c"], msg["r"], msg["o"], msg["a"], msg["f"], msg.get("h")
                )
                self.hub.spawn(forwarded)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("plugboard hub: bad backplane message %r: %r", payload[:200], exc)

    def _handle_event(self, payload: str) -> None:
        try:
            event = orjson.loads(payload)
            kind = event["kind"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("plugboard hub: bad backplane event %r: %r", payload[:200], exc)
            return
        if kind == "consumer_joined":
            consumer = event["consumer"]
            if consumer["hub_id"] != self.hub.id:
                self._add_remote(consumer["id"], consumer["hub_id"], consumer["service_id"])
                self.hub.consumers_changed(consumer["service_id"])
        elif kind == "consumer_left":
            consumer = event["consumer"]
            mine = consumer["hub_id"] == self.hub.id
            if not mine and self.hub.router.remove(consumer["id"], "it left its hub"):
                self.hub.consumers_changed(consumer["service_id"])
        elif kind == "hub_gone":
            if event["hub_id"] != self.hub.id:
                self._drop_hub(event["hub_id"])
        else:
            self.hub.apply_event(event)

    def _add_remote(self, consumer_id: str, hub_id: str, service_id: str) -> None:
        if self.hub.router.get(consumer_id) is None:
            send = partial(self.forward_request, hub_id, consumer_id)
            self.hub.router.add(Consumer(consumer_id, service_id, hub_id, send))

    def _drop_hub(self, hub_id: str) -> None:
        services = set()
        for consumer in self.hub.router.consumers():
            if consumer.hub_id == hub_id:
                self.hub.router.remove(consumer.id, "its hub stopped")
                services.add(consumer.service_id)
        for service_id in services:
            self.hub.consumers_changed(service_id)

    # -- heartbeat -------------------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self._beat()
                self._error = None
            except Exception as exc:
                self._error = f"{type(exc).__name__}: {exc}"
                log.warning("plugboard hub: backplane heartbeat failed: %s", self._error)

    async def _beat(self) -> None:
        pool = self.store.pool
        if self._listener is None or self._listener.is_closed():
            await self._listen()
            await self.hub.revocations.revalidate()  # deletions may have been notified while deaf
        beat = "UPDATE plugboard_hubs SET heartbeat_at = now() WHERE id = $1"
        status = await pool.execute(beat, self.hub.id)
        if status == "UPDATE 0":  # we were taken for dead: come back with our consumers
            await pool.execute("INSERT INTO plugboard_hubs (id) VALUES ($1)", self.hub.id)
            for socket in list(self.hub.sockets.values()):
                await self.register(socket.id, socket.service_id, socket.actions or "{}")
        async with pool.acquire() as conn, conn.transaction():
            dead = await conn.fetch(
                "DELETE FROM plugboard_hubs WHERE heartbeat_at < now() - make_interval(secs => $1)"
                " RETURNING id",
                self.dead_after,
            )
            for row in dead:
                await self._announce(conn, {"kind": "hub_gone", "hub_id": row["id"]})
            await conn.execute(
                f"DELETE FROM plugboard_payloads WHERE created_at < now() - interval '{PAYLOAD_RETENTION}'"
            )
        await self._refresh()

    async def _refresh(self) -> None:
        """Re-read the consumers of the other live hubs and reconcile the router with them."""
        rows = await self.store.pool.fetch(
            "SELECT c.id, c.hub_id, c.service_id FROM plugboard_consumers c"
            " JOIN plugboard_hubs h ON h.id = c.hub_id"
            " WHERE c.hub_id <> $1 AND h.heartbeat_at >= now() - make_interval(secs => $2)",
            self.hub.id,
            self.dead_after,
        )
        live = {row["id"]: row for row in rows}
        changed: set[str] = set()
        for consumer in self.hub.router.consumers():
            if consumer.hub_id != self.hub.id and consumer.id not in live:
                self.hub.router.remove(consumer.id, "its hub is gone")
                changed.add(consumer.service_id)
        for consumer_id, row in live.items():
            if self.hub.router.get(consumer_id) is None:
                self._add_remote(consumer_id, row["hub_id"], row["service_id"])
                changed.add(row["service_id"])
        for service_id in changed:
            self.hub.consumers_changed(service_id)
