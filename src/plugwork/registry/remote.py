""":class:`Remote`: calls to another service's actions, over HTTP or as durable jobs on its queue.

``await registry.remote("billing").call("charge", {...})`` picks an instance with the strategy, POSTs to
its ``/actions/charge`` with the caller's context headers, and answers with the output or raises the
:class:`~plugwork.errors.ActionError` the instance answered (the one error taxonomy, end to end). A
refused connection fails over to the next instance; a lost reply does only for ``idempotent=True``
calls, since the action may have run. ``enqueue`` writes a job for the target's queue into this app's
job store, which therefore must be the store the target's workers claim from.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel

from ..context import current_context
from ..errors import ActionError, ErrorCode, InvalidInput, InvocationTimeout, Unavailable
from ..observability.logging import get_logger
from .balancing import Strategy
from .models import Instance
from .transport import LostReply, NotSent, Timeout, post_action

if TYPE_CHECKING:
    from .stubs import Stub
    from .view import Registry

log = get_logger("plugwork.registry")
MAX_PAYLOAD_BYTES = 1 << 20
Payload = Mapping[str, Any] | BaseModel | None


def encode_payload(payload: Payload) -> bytes:
    """The JSON body of a payload (a mapping or a Pydantic model), bounded in size."""
    if payload is None:
        body = b"{}"
    elif isinstance(payload, BaseModel):
        body = payload.model_dump_json().encode()
    else:
        body = orjson.dumps(payload)
    if len(body) > MAX_PAYLOAD_BYTES:
        raise ActionError(
            f"payload is {len(body)} bytes; the limit is {MAX_PAYLOAD_BYTES}",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    return body


def decode_reply(status: int, raw: bytes) -> Any:
    """The output of a 2xx reply, or the :class:`ActionError` an error reply describes, raised."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
        if 200 <= status < 300:
            raise ActionError("the remote instance answered with malformed JSON", status=502) from None
    if 200 <= status < 300:
        return body
    if isinstance(body, dict) and isinstance(body.get("error_message"), str):
        try:
            code = ErrorCode(str(body.get("error_code")))
        except ValueError:
            code = ErrorCode.for_status(status)
        raise ActionError(body["error_message"], code=code, details=body.get("details"), status=status)
    code = ErrorCode.for_status(status)
    raise ActionError(f"the remote instance answered HTTP {status}", code=code, status=status)


class Remote:
    """Calls to one service (see the module docstring). Cheap to create: hold one or make one per call."""

    def __init__(
        self, registry: Registry, service: str, *, version: str | None = None, strategy: Strategy
    ) -> None:
        self.registry = registry
        self.service = service
        self.version = version
        self._strategy = strategy

    def _deadline(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> float:
        """The call's deadline on the loop's clock: the earliest of the call's, the caller's, the default."""
        now = loop.time()
        deadline = now + (timeout if timeout is not None else self.registry.call_timeout)
        ctx = current_context.get()
        if ctx is not None and ctx.deadline is not None:
            deadline = min(deadline, ctx.deadline)
        if deadline <= now:
            raise InvocationTimeout(f"no time left to call {self.service}")
        return deadline

    async def call(
        self,
        action: str,
        payload: Payload = None,
        /,
        *,
        key: str | None = None,
        timeout: float | None = None,
        idempotent: bool = False,
    ) -> Any:
        """Run ``action`` on an instance of the service; return its output (decoded JSON).

        ``key`` routes with the ``shard`` strategy; ``timeout`` bounds the whole call (failovers
        included); ``idempotent`` allows failing over when a reply is lost, not only when a connection
        is refused.
        """
        body = encode_payload(payload)
        loop = asyncio.get_running_loop()
        deadline = self._deadline(loop, timeout)
        registry = self.registry
        ctx = current_context.get()
        headers = registry.headers(ctx)
        candidates = registry.candidates(self.service, self.version)
        if not candidates:
            raise Unavailable(f"no healthy instance of {self.service!r} is registered")
        tried = 0
        for inst in self._strategy.order(self.service, candidates, key):
            left = deadline - loop.time()
            if left <= 0:
                raise InvocationTimeout(f"the call to {self.service}.{action} timed out")
            tried += 1
            registry.in_flight[inst.instance_id] = registry.in_flight.get(inst.instance_id, 0) + 1
            try:
                status, raw = await post_action(
                    registry.http, f"{inst.transports.http}/actions/{action}", body, headers, left
                )
            except NotSent as exc:
                self._failed(inst, action, exc, down=True)
                continue
            except Timeout:
                raise InvocationTimeout(f"the call to {self.service}.{action} timed out") from None
            except LostReply as exc:
                self._failed(inst, action, exc, down=idempotent)
                if idempotent:
                    continue
                raise Unavailable(
                    f"the call to {self.service}.{action} got no reply (it may have run)",
                    details={"service": self.service, "action": action},
                ) from None
            finally:
                count = registry.in_flight.get(inst.instance_id, 1) - 1
                if count:
                    registry.in_flight[inst.instance_id] = count
                else:
                    registry.in_flight.pop(inst.instance_id, None)
            return decode_reply(status, raw)
        raise Unavailable(
            f"no instance of {self.service!r} could be reached",
            details={"service": self.service, "tried": tried},
        )

    def _failed(self, inst: Instance, action: str, exc: Exception, *, down: bool) -> None:
        if down:
            self.registry.mark_down(inst)
        # The instance's address stays in this log line; callers get only the service name.
        log.warning(
            "remote call failed over" if down else "remote call lost its reply",
            service=self.service,
            action=action,
            instance=inst.instance_id,
            url=inst.transports.http,
            error=str(exc),
        )

    async def enqueue(
        self,
        action: str,
        payload: Payload = None,
        /,
        *,
        queue: str | None = None,
        delay: float | None = None,
        priority: int = 0,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
    ) -> str:
        """Enqueue ``action`` as a durable job on the service's queue; return the job id.

        The queue is ``queue``, else the one the action's published schema names, else the first queue a
        live instance serves. The job goes into this app's job store: share it with the target.
        """
        from ..queue.jobs import DEFAULT_MAX_ATTEMPTS, NewJob, encode_json

        job_queue = self.registry.queue()
        if job_queue is None:
            raise Unavailable("this app has no job queue to enqueue into (queue_url is none)")
        body = encode_payload(payload)
        target = queue or await self._queue_of(action)
        if target is None:
            raise Unavailable(f"no queue of {self.service!r} is known: pass queue=...")
        if delay is not None and delay < 0:
            raise InvalidInput("delay must not be negative")
        ctx = current_context.get()
        headers = self.registry.headers(ctx)
        job = NewJob(
            action,
            body.decode(),
            target,
            int(priority),
            time.time() + delay if delay else None,
            max_attempts or DEFAULT_MAX_ATTEMPTS,
            idempotency_key,
            None if ctx is None else ctx.correlation_id,
            encode_json(headers) if headers else None,
        )
        [job_id] = await job_queue.store.enqueue([job])
        return job_id

    async def _queue_of(self, action: str) -> str | None:
        instances = [i for i in self.registry.instances(self.service) if i.transports.queues]
        if self.version is not None:
            instances = [i for i in instances if i.service_version == self.version]
        for inst in instances:
            record = await self.registry.schema(self.service, inst.service_version)
            entry = record.action(action) if record is not None else None
            if entry is not None and entry.get("queue") in inst.transports.queues:
                return str(entry["queue"])
        return instances[0].transports.queues[0] if instances else None

    async def stub(self) -> Stub:
        """A client validating payloads against the published input schemas before they are sent."""
        from .stubs import Stub

        versions = sorted({i.service_version for i in self.registry.candidates(self.service, self.version)})
        version = self.version or (versions[-1] if versions else None)
        record = await self.registry.schema(self.service, version) if version else None
        if record is None:
            raise InvalidInput(
                f"no published schemas for {self.service!r}" + (f" {version}" if version else "")
            )
        return Stub(self, record)
