"""What the registry stores: live :class:`Instance` records and write-once :class:`SchemaRecord` ones.

Both keep usvc-lib's MongoDB document shapes (``service_instances`` and ``service_schemas``), so that
consumers reading those collections keep working; Plugwork's extra fields (``transports``, ``started_at``,
``metadata``) are added beside them. :meth:`Instance.to_document` / :meth:`Instance.from_document` convert
to and from that shape, with datetimes as timezone-aware UTC values (BSON dates in MongoDB, ISO 8601
strings in the JSON the SQL and Redis stores keep).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

HEALTH_STATUSES = ("GREEN", "YELLOW", "RED")


def utc(epoch: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (millisecond precision, what BSON dates keep)."""
    return datetime.fromtimestamp(round(epoch, 3), UTC)


def epoch(value: datetime | str | float) -> float:
    """Epoch seconds from a datetime (naive ones are UTC, as pymongo returns them) or an ISO string."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)  # already epoch seconds


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: for logs, errors and listings."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class Transports:
    """Where an instance can be reached: its HTTP base URL, the queues it serves, its Plugboard service."""

    http: str | None = None
    queues: tuple[str, ...] = ()
    plugboard: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"http": self.http, "queues": list(self.queues), "plugboard": self.plugboard}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Transports:
        data = data or {}
        return cls(data.get("http"), tuple(data.get("queues") or ()), data.get("plugboard"))


@dataclass(frozen=True, slots=True)
class Instance:
    """One running instance of a service, as registered and refreshed by its heartbeat.

    ``last_heartbeat`` and ``expires_at`` are epoch seconds set by the store at each :meth:`register`;
    an instance whose ``expires_at`` has passed is gone, whether or not a store has deleted it yet.
    """

    instance_id: str
    service_name: str
    service_version: str
    host: str
    port: int
    transports: Transports = Transports()
    health_status: str = "GREEN"
    health_checks: Mapping[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    last_heartbeat: float = 0.0
    expires_at: float = 0.0

    @property
    def healthy(self) -> bool:
        """Whether calls may be sent to it: it is not RED."""
        return self.health_status != "RED"

    def stamped(self, now: float, ttl: float) -> Instance:
        """A copy with ``last_heartbeat = now`` and ``expires_at = now + ttl``."""
        return replace(self, last_heartbeat=now, expires_at=now + ttl)

    def to_document(self) -> dict[str, Any]:
        """usvc-lib's ``service_instances`` document (plus Plugwork's fields); ``instance_id`` is its key."""
        return {
            "instance_id": self.instance_id,
            "service_name": self.service_name,
            "service_version": self.service_version,
            "host": self.host,
            "port": self.port,
            "health_status": self.health_status,
            "health_checks": dict(self.health_checks),
            "last_heartbeat": utc(self.last_heartbeat),
            "expires_at": utc(self.expires_at),
            "started_at": utc(self.started_at),
            "transports": self.transports.to_dict(),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Instance:
        """The instance a ``service_instances`` document (or its JSON form) describes."""
        return cls(
            instance_id=str(doc["instance_id"]),
            service_name=doc["service_name"],
            service_version=str(doc.get("service_version", "0.0.0")),
            host=doc.get("host", ""),
            port=int(doc.get("port") or 0),
            transports=Transports.from_dict(doc.get("transports")),
            health_status=str(doc.get("health_status", "GREEN")),
            health_checks=dict(doc.get("health_checks") or {}),
            started_at=epoch(doc["started_at"]) if doc.get("started_at") else 0.0,
            metadata=dict(doc.get("metadata") or {}),
            last_heartbeat=epoch(doc["last_heartbeat"]) if doc.get("last_heartbeat") else 0.0,
            expires_at=epoch(doc["expires_at"]) if doc.get("expires_at") else 0.0,
        )

    def to_json(self) -> dict[str, Any]:
        """The document with ISO 8601 strings for dates: what the SQL/Redis stores, the CLI and HTTP use."""
        doc = self.to_document()
        for key in ("last_heartbeat", "expires_at", "started_at"):
            doc[key] = doc[key].isoformat()
        return doc


@dataclass(frozen=True, slots=True)
class SchemaRecord:
    """The action schemas of one version of a service: written once, its expiry refreshed by heartbeats.

    ``actions`` is usvc-lib's list of ``{"name", "input_schema", "output_schema"}`` (Plugwork adds
    ``description``, ``queue`` and ``version`` to each entry).
    """

    service_name: str
    service_version: str
    actions: tuple[Mapping[str, Any], ...]
    published_at: float = 0.0
    expires_at: float = 0.0

    @property
    def key(self) -> str:
        """usvc-lib's key: ``{service_name}:{service_version}``."""
        return f"{self.service_name}:{self.service_version}"

    def action(self, name: str) -> Mapping[str, Any] | None:
        """The entry of action ``name``, or None."""
        return next((entry for entry in self.actions if entry.get("name") == name), None)

    def to_document(self) -> dict[str, Any]:
        return {
            "service_name": self.service_name,
            "service_version": self.service_version,
            "actions": [dict(entry) for entry in self.actions],
            "published_at": utc(self.published_at),
            "expires_at": utc(self.expires_at),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> SchemaRecord:
        return cls(
            service_name=doc["service_name"],
            service_version=str(doc["service_version"]),
            actions=tuple(dict(entry) for entry in doc.get("actions") or ()),
            published_at=epoch(doc["published_at"]) if doc.get("published_at") else 0.0,
            expires_at=epoch(doc["expires_at"]) if doc.get("expires_at") else 0.0,
        )

    def to_json(self) -> dict[str, Any]:
        doc = self.to_document()
        for key in ("published_at", "expires_at"):
            doc[key] = doc[key].isoformat()
        return doc


T = TypeVar("T")


def parse_documents(docs: Iterable[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], T]) -> list[T]:
    """Every document ``parse`` accepts; malformed ones are skipped (and logged), never fatal.

    A collection shared with other writers (usvc-lib's, in MongoDB) may hold a document that is not
    Plugwork's: it must not stop every instance's heartbeat and discovery.
    """
    parsed = []
    for doc in docs:
        try:
            parsed.append(parse(doc))
        except (KeyError, TypeError, ValueError) as exc:
            from ..observability.logging import get_logger

            get_logger("plugwork.registry").warning(
                "skipped a malformed registry document", error=f"{type(exc).__name__}: {exc}"
            )
    return parsed
