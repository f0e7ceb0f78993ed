"""The job model: :class:`JobStatus`, :class:`Job` (a stored job) and :class:`NewJob` (one to enqueue).

Lifecycle::

    ready ──claim──> assigned ──start──> processing ──> completed
      ^                 │                    ├──> failed ──(run_at reached)──> claimed again
      │                 │                    ├──> dead        (attempts exhausted / not retryable)
      └──(lease expired, attempts left)──────┘
    ready / failed / assigned / processing ──cancel──> cancelled

``attempts`` counts deliveries (claims), so a job that kills its worker every time still ends ``dead``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

import pydantic_core


class JobStatus(StrEnum):
    """Where a job is in its lifecycle. ``failed`` means: waiting for a retry at ``run_at``."""

    READY = "ready"
    ASSIGNED = "assigned"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the final states (nothing will run this job again unless retried by hand)."""
        return self in FINISHED


FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.DEAD, JobStatus.CANCELLED})
WAITING = frozenset({JobStatus.READY, JobStatus.FAILED})
RUNNING = frozenset({JobStatus.ASSIGNED, JobStatus.PROCESSING})
ACTIVE = WAITING | RUNNING

DEFAULT_QUEUE = "default"
DEFAULT_MAX_ATTEMPTS = 3
MAX_PAYLOAD_BYTES = 1 << 20
"""Payloads larger than this are refused at enqueue time."""


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def from_epoch(ts: float | None) -> datetime | None:
    """A UTC datetime from epoch seconds (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def utc_from_epoch(ts: float) -> datetime:
    """A UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(ts, UTC)


def decode_json(raw: str | bytes | None) -> Any:
    """Decode stored JSON; an undecodable value comes back as the raw string rather than raising."""
    if raw is None:
        return None
    try:
        return pydantic_core.from_json(raw)
    except ValueError:
        return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def decode_headers(raw: str | bytes | None) -> dict[str, str] | None:
    """Stored carried headers as a dict; anything that is not an object of strings is dropped."""
    value = decode_json(raw)
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def encode_json(value: Any) -> str:
    """JSON text for storage (models, dataclasses, datetimes... are handled by pydantic-core)."""
    return pydantic_core.to_json(value).decode()


MAX_HANDBACKS = 3
"""How many times a lost worker's claim of a job that never started is handed back with the attempt refunded.
Bounded, because "never started" is what the store last heard: a job that kills its worker before the worker
recorded its start must still end ``dead`` after ``max_attempts + MAX_HANDBACKS`` deliveries at most."""

MAX_JOB_ID = 2**63 - 1
"""The largest id a SQL store can hold (a signed 64-bit integer, in SQLite and PostgreSQL alike)."""


def parse_job_id(job_id: str) -> int | None:
    """The integer id of a SQL store's job, or None when ``job_id`` cannot name one (not an integer, or
    outside the store's range): such an id simply finds no job, rather than overflowing the driver."""
    try:
        value = int(job_id)
    except (TypeError, ValueError):
        return None
    return value if 0 < value <= MAX_JOB_ID else None


def lease_expired_error(attempts: int) -> str:
    """The error stored on a job that lost its worker on its last allowed delivery (SQL stores match it)."""
    return encode_json(
        {
            "error_code": "INTERNAL",
            "error_message": (
                f"worker lost (heartbeat or lease expired) on delivery {attempts}; no attempts left"
            ),
            "details": None,
        }
    )


@dataclass(slots=True)
class NewJob:
    """A job to enqueue. ``payload`` is JSON text (already validated by the caller)."""

    action: str
    payload: str = "{}"
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: float | None = None
    """Epoch seconds; None means now."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    idempotency_key: str | None = None
    correlation_id: str | None = None
    headers: str | None = None
    """The carried context as a JSON object of headers (see :mod:`plugwork.carriers`), or None."""


@dataclass(slots=True)
class Job:
    """A stored job, as users see it (``GET /jobs/{id}``, ``JobQueue.get``)."""

    id: str
    action: str
    payload: Any
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    status: JobStatus = JobStatus.READY
    attempts: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    run_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Any = None
    error: Any = None
    idempotency_key: str | None = None
    correlation_id: str | None = None
    worker_id: str | None = None
    lease_expires_at: datetime | None = None
    headers: dict[str, str] | None = None
    """The context carried with the job (correlation id, trace...), as carried headers."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (the body of ``GET /jobs/{id}``)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["status"] = self.status.value
        return out


class ClaimedJob(NamedTuple):
    """What a worker gets from a claim: just enough to run the job, cheap to build in bulk."""

    id: str
    action: str
    payload: str
    attempts: int
    max_attempts: int
    ready_at: float
    """Epoch seconds at which the job became runnable (max of created_at and run_at)."""
    correlation_id: str | None
    headers: str | None = None
    """The carried context as JSON text (decoded only when a carrier beyond the correlation id needs it)."""


class Finish(NamedTuple):
    """A worker's verdict on one claimed job, written in batches by ``JobStore.finish``."""

    id: str
    status: JobStatus
    """completed, failed (retry at ``run_at``) or dead."""
    result: str | None = None
    error: str | None = None
    run_at: float | None = None
