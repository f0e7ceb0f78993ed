""":class:`JobQueue`: the façade apps, HTTP routes and the CLI use to enqueue and manage jobs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from ..actions import Action, validation_details
from ..carriers import Carriers
from ..context import current_context
from ..errors import ActionError, ErrorCode, InvalidInput, NotFound, UnknownAction
from .jobs import DEFAULT_MAX_ATTEMPTS, MAX_PAYLOAD_BYTES, Job, JobStatus, NewJob, encode_json
from .store import JobStore

Payload = Mapping[str, Any] | BaseModel | bytes | str
PublishHook = Callable[[str, str, int], AbstractContextManager[Any]]
"""``(queue, action, job count) -> context manager`` entered around one enqueue (see ``publish_hook``)."""
MAX_LIST = 1000
MAX_KEY_LENGTH = 255
_RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})


class JobQueue:
    """Enqueue jobs for ``actions`` into ``store``, validating payloads at enqueue time; manage jobs."""

    def __init__(
        self,
        store: JobStore,
        actions: Mapping[str, Action],
        *,
        default_max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        carriers: Carriers | None = None,
    ) -> None:
        self.store = store
        self.actions = actions
        self.carriers = carriers or Carriers()
        """What the enqueuer's context writes into the job's headers (the worker reads them back)."""
        self.default_max_attempts = default_max_attempts
        self.max_payload_bytes = max_payload_bytes
        self.publish_hook: PublishHook | None = None
        """Entered around each enqueue, before the job headers are written (the tracing plugin's PRODUCER
        span, so that the job row names it as the parent). None: nothing extra runs."""

    # ------------------------------------------------------------------ enqueue

    def _publishing(self, action: str, queue: str | None, count: int) -> AbstractContextManager[Any]:
        if self.publish_hook is None:
            return nullcontext()
        spec = self.actions.get(action)
        return self.publish_hook(queue or (spec.queue if spec is not None else "default"), action, count)

    async def enqueue(
        self,
        action: str,
        payload: Payload | None = None,
        *,
        delay: float | timedelta | None = None,
        run_at: datetime | float | None = None,
        priority: int = 0,
        queue: str | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        connection: Any = None,
        session: Any = None,
    ) -> str:
        """Enqueue one job; return its id (the first job's id when ``idempotency_key`` was seen before).

        Raises :class:`~plugwork.errors.UnknownAction`, or :class:`~plugwork.errors.InvalidInput` with the
        field errors. ``connection`` (PostgreSQL): an asyncpg connection whose transaction the insert joins;
        ``session``: a SQLAlchemy ``AsyncSession`` on asyncpg, whose transaction the insert joins (the job
        exists if and only if that transaction commits).
        """
        with self._publishing(action, queue, 1):
            job = self._prepare(
                action, payload, delay, run_at, priority, queue, idempotency_key, max_attempts, index=None
            )
            connection = await _joined(connection, session)
            [job_id] = await self.store.enqueue([job], connection=connection)
            return job_id

    async def enqueue_many(
        self,
        action: str,
        payloads: Iterable[Payload],
        *,
        delay: float | timedelta | None = None,
        run_at: datetime | float | None = None,
        priority: int = 0,
        queue: str | None = None,
        max_attempts: int | None = None,
        connection: Any = None,
        session: Any = None,
    ) -> list[str]:
        """Enqueue one job per payload in one round trip; every payload is validated first (all or none)."""
        if self.publish_hook is not None:
            payloads = list(payloads)  # the PRODUCER span records how many
        with self._publishing(action, queue, len(payloads) if isinstance(payloads, list) else 0):
            return await self._enqueue_many(
                action, payloads, delay, run_at, priority, queue, max_attempts, connection, session
            )

    async def _enqueue_many(
        self,
        action: str,
        payloads: Iterable[Payload],
        delay: float | timedelta | None,
        run_at: datetime | float | None,
        priority: int,
        queue: str | None,
        max_attempts: int | None,
        connection: Any,
        session: Any,
    ) -> list[str]:
        items = iter(payloads)
        first = next(items, None)
        if first is None:
            return []
        # Options are checked once, with the first payload; the rest only need validating.
        template = self._prepare(action, first, delay, run_at, priority, queue, None, max_attempts, index=0)
        spec = self.actions[action]
        jobs = [template]
        for i, payload in enumerate(items, 1):
            jobs.append(
                NewJob(
                    action,
                    self._validated_json(spec, payload, i),
                    template.queue,
                    template.priority,
                    template.run_at,
                    template.max_attempts,
                    None,
                    template.correlation_id,
                    template.headers,
                )
            )
        return await self.store.enqueue(jobs, connection=await _joined(connection, session))

    def _prepare(
        self,
        action: str,
        payload: Payload | None,
        delay: float | timedelta | None,
        run_at: datetime | float | None,
        priority: int,
        queue: str | None,
        idempotency_key: str | None,
        max_attempts: int | None,
        *,
        index: int | None,
    ) -> NewJob:
        spec = self.actions.get(action)
        if spec is None:
            raise UnknownAction(f"Unknown action: {action}")
        text = self._validated_json(spec, {} if payload is None else payload, index)
        when = _when(delay, run_at)
        attempts = (
            max_attempts if max_attempts is not None else spec.max_attempts or self.default_max_attempts
        )
        if attempts < 1:
            raise InvalidInput("max_attempts must be at least 1", details=[_field("max_attempts", index)])
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
            raise InvalidInput(
                f"idempotency_key must be 1 to {MAX_KEY_LENGTH} characters",
                details=[_field("idempotency_key", index)],
            )
        ctx = current_context.get()
        headers = None
        if ctx is not None and not self.carriers.only_correlation:
            headers = encode_json(self.carriers.inject(ctx))
        return NewJob(
            action=action,
            payload=text,
            queue=queue or spec.queue,
            priority=int(priority),
            run_at=when,
            max_attempts=attempts,
            idempotency_key=idempotency_key,
            correlation_id=None if ctx is None else ctx.correlation_id,
            headers=headers,
        )

    def _validated_json(self, spec: Action, payload: Payload, index: int | None) -> str:
        model = spec.input_model
        try:
            if isinstance(payload, bytes | str):
                raw = payload if isinstance(payload, str) else payload.decode("utf-8")
                if len(raw) <= self.max_payload_bytes:  # an oversized payload is refused below, unparsed
                    model.model_validate_json(raw)
            elif isinstance(payload, BaseModel):
                raw = payload.model_dump_json()
                model.model_validate_json(raw)
            else:
                model.model_validate(payload)
                raw = encode_json(payload)
        except ValidationError as exc:
            details = validation_details(exc)
            if index is not None:
                details = [{**d, "index": index} for d in details]
            raise InvalidInput("Invalid input", details=details) from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ActionError(f"Malformed payload: {exc}", code=ErrorCode.BAD_REQUEST) from None
        if len(raw) > self.max_payload_bytes:
            raise ActionError(
                f"payload of {len(raw)} bytes exceeds the limit of {self.max_payload_bytes}",
                code=ErrorCode.PAYLOAD_TOO_LARGE,
            )
        return raw

    # ------------------------------------------------------------------ management

    async def get(self, job_id: str) -> Job:
        """The job; raises :class:`~plugwork.errors.NotFound`."""
        job = await self.store.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        return job

    async def list(
        self,
        *,
        status: JobStatus | str | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Job]:
        """Jobs, newest first; ``limit`` is capped at 1000."""
        st = None if status is None else _status(status)
        return await self.store.list(
            status=st, action=action, limit=max(0, min(limit, MAX_LIST)), offset=max(0, offset)
        )

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job that has not finished (a running one stops at its next await point)."""
        job = await self.store.cancel(job_id)
        if job is None:
            raise NotFound(f"job {job_id} not found")
        if job.status is not JobStatus.CANCELLED:
            raise ActionError(f"job {job_id} is already {job.status.value}", code=ErrorCode.CONFLICT)
        return job

    async def retry(self, job_id: str) -> Job:
        """Run a failed, dead or cancelled job again, with fresh attempts."""
        before = await self.get(job_id)
        job = await self.store.retry(job_id) if before.status in _RETRYABLE else before
        if job is None:
            raise NotFound(f"job {job_id} not found")
        if job is before or job.status is not JobStatus.READY:
            raise ActionError(
                f"job {job_id} is {job.status.value}; only failed, dead or cancelled jobs can be retried",
                code=ErrorCode.CONFLICT,
            )
        return job

    async def purge(self, older_than: float | timedelta) -> int:
        """Delete jobs that finished more than ``older_than`` (seconds or timedelta) ago."""
        seconds = older_than.total_seconds() if isinstance(older_than, timedelta) else float(older_than)
        return await self.store.purge(time.time() - seconds)

    async def wait(self, job_id: str, timeout: float) -> Job:
        """Wait until the job is completed, dead or cancelled; after ``timeout`` return it as it is."""
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            job = await self.get(job_id)
            left = deadline - time.monotonic()
            if job.status.finished or left <= 0:
                return job
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.1)

    async def counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        return {status.value: n for status, n in (await self.store.counts()).items()}


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(
            f"unknown job status {value!r}", details=[{"field": "status", "message": f"one of {allowed}"}]
        ) from None


def _field(name: str, index: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": name, "message": "invalid value", "type": "value_error"}
    if index is not None:
        out["index"] = index
    return out


def _when(delay: float | timedelta | None, run_at: datetime | float | None) -> float | None:
    if delay is not None and run_at is not None:
        raise InvalidInput("give delay or run_at, not both", details=[_field("run_at", None)])
    if delay is not None:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        if seconds < 0:
            raise InvalidInput("delay must not be negative", details=[_field("delay", None)])
        return time.time() + seconds
    if isinstance(run_at, datetime):
        if run_at.tzinfo is None:
            raise InvalidInput("run_at needs a timezone", details=[_field("run_at", None)])
        return run_at.timestamp()
    return None if run_at is None else float(run_at)


async def _joined(connection: Any, session: Any) -> Any:
    """The asyncpg connection under a SQLAlchemy ``AsyncSession``, inside the session's transaction."""
    if session is None:
        return connection
    if connection is not None:
        raise TypeError("give enqueue() a session or a connection, not both")
    conn = await session.connection()  # begins the session's transaction if none is open
    if (conn.dialect.name, conn.dialect.driver) != ("postgresql", "asyncpg"):
        raise TypeError(
            "enqueue(session=...) needs a PostgreSQL session on asyncpg (and the PostgreSQL job store);"
            f" this session uses {conn.dialect.name}+{conn.dialect.driver}"
        )
    raw = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, with its first statement: send one now, or
        # the insert would commit on its own, whatever becomes of the session's transaction.
        await conn.exec_driver_sql("SELECT 1")
    if not raw.is_in_transaction():  # pragma: no cover - a SQLAlchemy change would land here
        raise RuntimeError("the session's connection is not in a transaction")
    return raw
