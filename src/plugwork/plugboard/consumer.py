"""The Plugboard consumer: serves an app's actions to a Plugboard hub over one Phoenix Channels WebSocket.

It connects with the ``token`` and ``actions`` query parameters (plus ``vsn`` when speaking V2; V1, like
Vera's consumer, sends none; an actions map too long for a URL goes in the join payload instead), joins
topic ``service``, runs each ``request`` push through the dispatcher and answers with a ``response`` push
whose ``ref`` is the request's ``response_ref``. Unlike Vera's consumer it heartbeats, reconnects with
capped exponential backoff and full jitter, bounds in-flight requests, and on :meth:`PlugboardConsumer.stop`
finishes in-flight requests before sending ``phx_leave``.

What the hub says about the service, its tokens (rotated as Vera's consumer does) and its consumer count is
kept in :class:`~plugwork.plugboard.consumer_state.ServiceState`. Token values never appear in logs or health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ..carriers import CORRELATION_HEADER, Carriers
from ..context import Context
from ..dispatch import Invocation, Outcome
from ..errors import ActionError, ConfigError, ProtocolError
from ..middleware.retry import backoff_delay
from ..observability.logging import get_logger
from .consumer_link import ConsumerConnection, DeadConnection, Disconnected, Link
from .consumer_responses import overloaded, response_payload, shutting_down, too_large
from .consumer_state import ServiceState
from .protocol import (
    DEFAULT_MAX_FRAME_BYTES,
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    PHX_REPLY,
    SERVICE_TOPIC,
    V2,
    Message,
    serializer_for,
)
from .schema import actions_map

if TYPE_CHECKING:
    from ..actions import Action
    from ..dispatch import Dispatcher

log = get_logger("plugwork.plugboard.consumer")

MAX_URL_BYTES = 8000
"""Longest connect URL the consumer sends: HTTP servers refuse longer request lines (Cowboy, under a real
Plugboard, at 8000 bytes; websockets at 8192). A longer actions map goes in the ``phx_join`` payload."""
_MAX_REF = 256
_MAX_CORRELATION_ID = 128


_TRANSIENT = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, Disconnected, DeadConnection)


class _NoDebug(logging.LoggerAdapter[logging.Logger]):
    """websockets' logger for the consumer's socket, never at DEBUG: there websockets logs the request line,
    whose query string carries the service token (the Plugboard protocol puts it there)."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_WS_LOG = _NoDebug(logging.getLogger("websockets.client"), {})


class Refused(Exception):
    """The hub refused this consumer (HTTP 4xx on upgrade, or an error reply to the join)."""


class PlugboardConsumer:
    """Serves ``actions`` through ``dispatcher`` to the Plugboard hub at ``url`` until stopped.

    ``url`` is the hub's WebSocket endpoint (``ws://host:port/websocket``); ``token`` the service API token.
    ``run()`` is the connect loop (it returns after ``stop()`` or a ``service_deleted`` push); ``health()``
    reports the connection, service, token and load as a ``(status, details)`` pair for the health registry.

    Options: ``vsn`` (``1.0.0``, what a real Plugboard expects from Vera's consumer, or ``2.0.0``);
    ``max_in_flight`` handlers at once, ``max_pending`` more waiting (default: as many), beyond which a
    request is answered 503 at once; a heartbeat every ``heartbeat_interval`` s, the connection counted dead
    when one is not answered within ``heartbeat_timeout`` s (default: the interval); reconnect delays drawn
    from ``[0, min(reconnect_max, reconnect_min * 2**failures)]``; ``drain_timeout`` bounds ``stop()``'s
    wait for in-flight requests; ``max_frame_bytes`` bounds frames both ways; ``connect_timeout`` bounds
    the upgrade and the join; ``request_timeout`` is each invocation's deadline (None: none);
    ``send_timeout`` bounds how long sends may stay blocked (the hub reading nothing) before the connection
    is dropped. Frames are sent without waiting, those of one event-loop tick in one write
    (:mod:`.consumer_link`).
    """

    def __init__(
        self,
        url: str,
        token: str,
        dispatcher: Dispatcher,
        actions: Mapping[str, Action],
        *,
        vsn: str = "1.0.0",
        max_in_flight: int = 64,
        max_pending: int | None = None,
        heartbeat_interval: float = 30.0,
        heartbeat_timeout: float | None = None,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
        drain_timeout: float = 30.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        connect_timeout: float = 10.0,
        request_timeout: float | None = 30.0,
        send_timeout: float = 10.0,
        carriers: Carriers | None = None,
    ) -> None:
        _check_positive(
            max_in_flight=max_in_flight,
            heartbeat_interval=heartbeat_interval,
            reconnect_min=reconnect_min,
            reconnect_max=reconnect_max,
            drain_timeout=drain_timeout,
            max_frame_bytes=max_frame_bytes,
            connect_timeout=connect_timeout,
            send_timeout=send_timeout,
        )
        if reconnect_min > reconnect_max:
            raise ConfigError("reconnect_min must not exceed reconnect_max", key="reconnect_min")
        if not token:
            raise ConfigError("a service API token is required", key="token")
        try:
            self._serializer = serializer_for(vsn)
        except ProtocolError as exc:
            raise ConfigError(str(exc), key="vsn") from None
        self._base_url = _websocket_url(url)
        self._dispatcher = dispatcher
        self._carriers = carriers or Carriers()
        self._actions = actions_map(actions)
        self._actions_json = orjson.dumps(self._actions).decode()
        self._max_in_flight = max_in_flight
        self._max_pending = max_in_flight if max_pending is None else max(0, max_pending)
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_timeout = heartbeat_interval if heartbeat_timeout is None else heartbeat_timeout
        self._reconnect_min = reconnect_min
        self._reconnect_max = reconnect_max
        self._drain_timeout = drain_timeout
        self._max_frame_bytes = max_frame_bytes
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._send_timeout = send_timeout

        self._state = ServiceState(token)
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = 0
        self._waiting = 0
        self._admitted = 0
        self._joined = False
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._finished = asyncio.Event()
        self._run_task: asyncio.Task[Any] | None = None
        self._started = False
        self._deleted: str | None = None
        self._refused: str | None = None
        self._last_error: str | None = None
        self._failures = 0
        self._attempts = 0
        self._stats = {"served": 0, "dropped_responses": 0, "malformed_frames": 0, "heartbeats": 0}

    # ------------------------------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Connect, serve and reconnect until :meth:`stop` or a ``service_deleted`` push. Never raises."""
        if self._started:
            raise RuntimeError("PlugboardConsumer.run() may only be called once")
        self._started = True
        self._run_task = asyncio.current_task()
        try:
            while not self._stopping and self._deleted is None:
                await self._attempt()
                if self._stopping or self._deleted is not None:
                    break
                delay = self._next_delay()
                log.info("plugboard reconnecting", delay=round(delay, 3), attempt=self._failures)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
        finally:
            await self._finish_tasks()
            self._finished.set()

    async def stop(self) -> None:
        """Stop consuming: finish in-flight requests (bounded by ``drain_timeout``), leave, close."""
        self._stopping = True
        self._stop_event.set()
        task = self._run_task
        if task is None or task.done() or task is asyncio.current_task():
            return
        bound = self._drain_timeout + self._send_timeout + self._connect_timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._finished.wait()), bound)
        except TimeoutError:
            log.warning("plugboard consumer did not stop in time; cancelling it", bound=bound)
            task.cancel()
            await asyncio.wait({task}, timeout=self._send_timeout)

    def health(self) -> tuple[str, dict[str, Any]]:
        """``("GREEN" | "YELLOW" | "RED", details)``: connection, service, token (never its value), load."""
        details: dict[str, Any] = {
            "connected": self._joined,
            "stopping": self._stopping,
            "url": self._base_url,
            "vsn": self._serializer.vsn,
            **self._state.details(),
            "in_flight": self._running,
            "waiting": self._waiting,
            "last_error": self._state.warning or self._last_error,
            "reconnects": max(0, self._attempts - 1),
            **self._stats,
        }
        if self._deleted is not None:
            return "RED", {**details, "reason": self._deleted}
        if self._stopping and not self._joined:
            return "RED", {**details, "reason": "consumer stopped"}
        if not self._joined:
            if self._refused is not None:
                return "RED", {**details, "reason": self._refused}
            reason = "not started" if not self._started else "connecting to the Plugboard"
            return "YELLOW", {**details, "reason": reason}
        if self._waiting:
            return "YELLOW", {**details, "reason": f"all {self._max_in_flight} request slots busy"}
        if self._state.warning is not None:
            return "YELLOW", {**details, "reason": self._state.warning}
        if self._state.token_expired():
            return "YELLOW", {**details, "reason": "the service token has expired; reconnecting will fail"}
        return "GREEN", details

    @property
    def connect_url(self) -> str:
        """The URL of the next connection attempt, query parameters included (it holds the token).

        The actions map rides in the query, as every Plugboard expects, unless that makes the URL longer
        than :data:`MAX_URL_BYTES`; then it goes in the ``phx_join`` payload (see :meth:`join_payload`).
        """
        url = self._url(with_actions=True)
        return url if len(url) <= MAX_URL_BYTES else self._url(with_actions=False)

    def join_payload(self) -> dict[str, Any]:
        """The ``phx_join`` payload: ``{}``, or ``{"actions": ...}`` when the map does not fit in the URL."""
        if len(self._url(with_actions=True)) <= MAX_URL_BYTES:
            return {}
        return {"actions": self._actions}

    def _url(self, *, with_actions: bool) -> str:
        params = [("token", self._state.token_value)]
        if with_actions:
            params.append(("actions", self._actions_json))
        if self._serializer.vsn == V2:
            params.append(("vsn", V2))
        parts = urlsplit(self._base_url)
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params)
        return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))

    # ------------------------------------------------------------------------------------------ connection

    async def _attempt(self) -> None:
        self._attempts += 1
        try:
            async with connect(
                self.connect_url,
                open_timeout=self._connect_timeout,
                close_timeout=self._send_timeout,
                max_size=self._max_frame_bytes,
                ping_interval=None,  # liveness is the Phoenix heartbeat, as the protocol wants
                compression=None,
                logger=_WS_LOG,
                create_connection=ConsumerConnection,
            ) as ws:
                assert isinstance(ws, ConsumerConnection)
                await self._session(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace").strip()[:300] if exc.response.body else ""
            reason = f"connection refused (HTTP {status}): {body or exc.response.reason_phrase}"
            self._fail(reason, refused=400 <= status < 500)
        except Refused as exc:
            self._fail(str(exc), refused=True)
        except _TRANSIENT as exc:
            self._fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        except Exception as exc:  # the connect loop must survive anything; it is the consumer's lifeline
            log.exception("plugboard connection failed unexpectedly")
            self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, reason: str, *, refused: bool = False) -> None:
        self._last_error = reason
        if refused:
            # The first refusal is an error worth an alert; the same refusal at every retry is not news.
            level = log.info if reason == self._refused else log.error
            self._refused = reason
            level("plugboard refused the consumer", reason=reason, url=self._base_url)
        elif not self._stopping and self._deleted is None:
            log.warning("plugboard connection lost", reason=reason, url=self._base_url)

    def _next_delay(self) -> float:
        self._failures += 1
        # Full jitter: spreads a fleet's reconnects after a hub restart.
        return backoff_delay(self._failures, self._reconnect_min, self._reconnect_max)

    async def _session(self, ws: ConsumerConnection) -> None:
        link = Link(ws, self._serializer, lambda frame: self._on_frame(link, frame), self._send_timeout)
        tasks: set[asyncio.Task[Any]] = set()
        loop = asyncio.get_running_loop()
        joined_at = loop.time()
        try:
            link.join_ref = link.next_ref()
            join = Message(SERVICE_TOPIC, PHX_JOIN, self.join_payload(), link.join_ref, link.join_ref)
            await link.call(join, self._connect_timeout, self._on_joined)
            joined_at = loop.time()
            heartbeat = asyncio.create_task(self._heartbeat(link))
            stopped = asyncio.create_task(self._stop_event.wait())
            tasks |= {heartbeat, stopped}
            done, _ = await asyncio.wait({*tasks, link.ended}, return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                await self._drain()
                await self._leave(link)
            elif heartbeat in done and not heartbeat.cancelled() and heartbeat.exception() is not None:
                raise heartbeat.exception()  # type: ignore[misc]
            elif link.close_reason is not None:
                raise Disconnected(link.close_reason)
        finally:
            if self._joined and loop.time() - joined_at >= self._reconnect_max:
                self._failures = 0  # a connection that lived a while restarts the backoff; a flapping one not
            self._joined = False
            for task in tasks:
                task.cancel()
            await link.close()
            link.end("connection closed")
            if tasks:
                await asyncio.wait(tasks, timeout=self._send_timeout)

    def _on_joined(self, reply: Any) -> None:
        """The join reply, applied as it is read (pushes read after it are newer); Refused if it says no."""
        if not isinstance(reply, dict) or reply.get("status") != "ok":
            response = reply.get("response") if isinstance(reply, dict) else None
            reason = response.get("reason") if isinstance(response, dict) else None
            raise Refused(f"join of topic 'service' refused: {reason or reply!r}")
        self._state.joined(reply.get("response"))
        self._joined = True
        self._refused = None
        log.info(
            "plugboard joined", service=self._state.service_name, num_consumers=self._state.num_consumers
        )

    async def _heartbeat(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            try:
                heartbeat = Message(PHOENIX_TOPIC, HEARTBEAT, {}, link.next_ref())
                await link.call(heartbeat, self._heartbeat_timeout)
            except TimeoutError:
                raise DeadConnection(f"no heartbeat reply within {self._heartbeat_timeout}s") from None
            self._stats["heartbeats"] += 1

    async def _leave(self, link: Link) -> None:
        leave = Message(SERVICE_TOPIC, PHX_LEAVE, {}, link.next_ref(), link.join_ref)
        # The socket closes right after anyway; leaving is a courtesy to the hub.
        with contextlib.suppress(TimeoutError, Disconnected, ConnectionClosed, DeadConnection):
            await link.call(leave, min(self._send_timeout, 5.0))

    def _on_frame(self, link: Link, frame: bytes) -> None:
        """One frame from the hub, as soon as it is parsed (see :mod:`.consumer_link`)."""
        try:
            message = link.serializer.decode(frame)
        except ProtocolError as exc:
            self._stats["malformed_frames"] += 1
            log.warning("malformed plugboard frame skipped", error=str(exc), size=len(frame))
            return
        try:
            if message.event == "request" and message.topic == SERVICE_TOPIC:
                refusal = self._on_request(link, message.payload)
                if refusal is not None:
                    self._respond(link, *refusal)
            elif not self._handle(link, message):
                link.end(link.close_reason or "the hub ended the session")
        except Exception:  # one bad message must never take the consumer down
            self._stats["malformed_frames"] += 1
            log.exception("plugboard message could not be handled", phx_event=message.event)

    # ------------------------------------------------------------------------------------------ events

    def _handle(self, link: Link, message: Message) -> bool:
        """Apply one message from the hub; False ends the session."""
        event, payload = message.event, message.payload
        if event == PHX_REPLY:
            link.resolve(message.ref, payload)
            return True
        if message.topic != SERVICE_TOPIC:
            log.debug("plugboard message on an unknown topic ignored", topic=message.topic, phx_event=event)
            return True
        if event == "service_updated":
            self._state.set_service(payload.get("service") if isinstance(payload, dict) else None)
        elif event == "num_consumers":
            self._state.set_num_consumers(payload.get("num_consumers") if isinstance(payload, dict) else None)
        elif event == "token_created":
            self._state.token_created(payload)
        elif event == "token_deleted":
            self._state.token_deleted(payload)
        elif event == "service_deleted":
            self._state.set_service(payload.get("service") if isinstance(payload, dict) else None)
            self._deleted = f"service {self._state.service_name or '?'} was deleted on the Plugboard"
            log.error("plugboard service deleted; consumer stops", service=self._state.service_name)
            link.close_reason = self._deleted
            return False
        elif event in (PHX_ERROR, PHX_CLOSE):
            link.close_reason = f"the hub closed channel 'service' ({event})"
            return False
        else:
            log.debug("unknown plugboard event ignored", phx_event=event)
        return True

    def _on_request(self, link: Link, payload: Any) -> tuple[str, dict[str, Any]] | None:
        """Start serving a ``request`` push; or the ``(ref, payload)`` of the refusal to answer at once."""
        ref = payload.get("response_ref") if isinstance(payload, dict) else None
        if not isinstance(ref, str) or not ref or len(ref) > _MAX_REF:
            self._stats["malformed_frames"] += 1
            log.warning("plugboard request without a valid response_ref skipped")
            return None
        assert isinstance(payload, dict)
        action, fields = payload.get("action"), payload.get("fields", {})
        problem = None
        if not isinstance(action, str):
            problem = "Malformed request: 'action' must be a string"
        elif fields is not None and not isinstance(fields, dict):
            problem = "Malformed request: 'fields' must be an object"
        if problem is not None:
            return ref, {"status_code": 400, "message": problem, "fields": {}}
        if self._stopping:
            return ref, shutting_down()
        if self._admitted >= self._max_in_flight + self._max_pending:
            return ref, overloaded(self._max_in_flight)
        assert isinstance(action, str)
        # Counted here, not when the task starts: a burst of frames read in one go must not slip past.
        self._admitted += 1
        task = link.ws.loop.create_task(self._serve(link, action, fields or {}, ref, self._carried(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return None

    def _carried(self, payload: dict[str, Any]) -> dict[str, str] | None:
        """The request's carried headers: its ``headers`` object (plus the older ``correlation_id`` key)."""
        raw = payload.get("headers")
        headers = self._carriers.select(raw.items()) if isinstance(raw, dict) and len(raw) <= 64 else {}
        correlation = payload.get("correlation_id")
        if isinstance(correlation, str) and 0 < len(correlation) <= _MAX_CORRELATION_ID:
            headers.setdefault(CORRELATION_HEADER, correlation)
        return headers or None

    async def _serve(
        self, link: Link, action: str, fields: dict[str, Any], ref: str, headers: dict[str, str] | None
    ) -> None:
        try:
            payload = await self._invoke(link, action, fields, ref, headers)
        except asyncio.CancelledError:
            if self._stopping:  # cut short by stop(): tell the producer now rather than at its timeout
                self._respond(link, ref, shutting_down())
            raise
        finally:
            self._admitted -= 1
        self._respond(link, ref, payload)

    async def _invoke(
        self, link: Link, action: str, fields: dict[str, Any], ref: str, headers: dict[str, str] | None
    ) -> dict[str, Any]:
        loop = link.ws.loop  # not asyncio.get_running_loop(): on Python 3.11 that is a getpid() system call
        deadline = None if self._request_timeout is None else loop.time() + self._request_timeout
        if self._slots.locked():  # only a request that has to wait pays for a timer
            self._waiting += 1
            try:
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            except TimeoutError:
                return overloaded(self._max_in_flight)
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        self._running += 1
        try:
            # The producer's correlation id when it carries one (a fresh one costs a getrandom() call).
            correlation = headers.get(CORRELATION_HEADER) if headers is not None else None
            if correlation:
                context = Context(correlation, "plugboard", request_id=ref, deadline=deadline)
            else:
                context = Context(transport="plugboard", request_id=ref, deadline=deadline)
            try:
                if headers is not None:
                    self._carriers.extract(headers, context)
                outcome = await self._dispatcher.dispatch(Invocation(action, fields, context))
            except ActionError as exc:  # a carried header this app refuses
                outcome = Outcome.from_exception(exc)
        finally:
            self._running -= 1
            self._slots.release()
        self._stats["served"] += 1
        return response_payload(action, outcome)

    def _respond(self, link: Link, ref: str, payload: dict[str, Any]) -> None:
        """Send a ``response`` push (it leaves with the rest of this tick's frames: it never waits)."""
        encode = link.serializer.encode_bytes
        frame = encode(Message(SERVICE_TOPIC, "response", payload, ref, link.join_ref))
        size = len(frame)  # the limit is in bytes on the wire (UTF-8, as orjson writes it)
        if size > self._max_frame_bytes:
            log.error("plugboard response over the frame limit", ref=ref, size=size)
            payload = too_large(size, self._max_frame_bytes)
            frame = encode(Message(SERVICE_TOPIC, "response", payload, ref, link.join_ref))
        try:
            link.send(frame)
        except Disconnected as exc:
            self._stats["dropped_responses"] += 1
            log.info("plugboard response dropped: connection lost", ref=ref, reason=str(exc))

    async def _drain(self) -> None:
        """Wait (bounded by ``drain_timeout``) for the requests in flight, then cancel the rest."""
        pending = set(self._tasks)
        if not pending:
            return
        log.info("plugboard consumer draining", in_flight=len(pending), timeout=self._drain_timeout)
        _, late = await asyncio.wait(pending, timeout=self._drain_timeout)
        for task in late:
            task.cancel()
        if late:
            log.warning("plugboard requests cancelled at shutdown", count=len(late))
            await asyncio.wait(late, timeout=self._send_timeout)

    async def _finish_tasks(self) -> None:
        # After a lost connection or service_deleted, handlers may still run; none outlives run().
        if self._tasks:
            await self._drain()


def _check_positive(**values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ConfigError(f"must be positive, got {value!r}", key=key)


def _websocket_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    problem = None if scheme in ("ws", "wss") and parts.hostname else "expected ws://host:port/websocket"
    if problem is None:
        try:
            parts.port  # noqa: B018 - raises on a port that is out of range or not a number
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        raise ConfigError(f"not a WebSocket URL: {url!r} ({problem})", key="url")
    return urlunsplit(parts._replace(scheme=scheme))
