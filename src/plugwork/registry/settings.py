"""The registry plugin's settings (YAML section ``plugins.registry:``), with usvc-lib's ``MONGODB_*`` names.

``PLUGWORK_REGISTRY_URL`` chooses the store; ``MONGODB_URI`` (usvc-lib) chooses the MongoDB store in
``MONGODB_DATABASE`` when no registry URL is set. Either one turns the registry on; so does
``PLUGWORK_REGISTRY_ENABLED=true`` alone, with the embedded SQLite default.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from ..config import PluginSettings

# What an app imports of the registry when the registry is off: this module and the plugin's, no more.
DEFAULT_REGISTRY_URL = "sqlite:///.plugwork/registry.db"
MAX_METADATA_BYTES = 16 * 1024
"""Metadata is for discovery hints, not payloads: an instance document stays small."""

Strategy = Literal["round_robin", "random", "least_in_flight", "shard"]


def _env(field: str, *names: str) -> AliasChoices:
    """The environment names of a field, Plugwork's first (``PLUGWORK_REGISTRY_<FIELD>`` unless given).

    The field's own name is accepted from YAML and keyword overrides (``validate_by_name``), never from
    the environment, where a bare ``URL`` or ``HTTP`` could mean anything.
    """
    return AliasChoices(*(names or (f"PLUGWORK_REGISTRY_{field.upper()}",)))


class RegistrySettings(PluginSettings):
    """How this instance registers, heartbeats and calls other services."""

    url: SecretStr | None = Field(None, validation_alias=_env("url", "PLUGWORK_REGISTRY_URL"))
    """The store: memory://, sqlite:///path.db, postgresql://..., redis://..., mongodb://... (secret: it
    may hold a password, so it never appears in a log line or a listing)."""
    enabled: bool | None = Field(None, validation_alias=_env("enabled", "PLUGWORK_REGISTRY_ENABLED"))
    mongodb_uri: SecretStr | None = Field(
        None, validation_alias=_env("mongodb_uri", "PLUGWORK_MONGODB_URI", "MONGODB_URI")
    )
    mongodb_database: str = Field(
        "microservices",
        validation_alias=_env("mongodb_database", "PLUGWORK_MONGODB_DATABASE", "MONGODB_DATABASE"),
    )
    mongodb_max_pool_size: int = Field(
        2, ge=1, validation_alias=_env("mongodb_max_pool_size", "MONGODB_MAX_POOL_SIZE")
    )
    mongodb_min_pool_size: int = Field(
        1, ge=0, validation_alias=_env("mongodb_min_pool_size", "MONGODB_MIN_POOL_SIZE")
    )
    heartbeat_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        validation_alias=_env(
            "heartbeat_seconds", "PLUGWORK_REGISTRY_HEARTBEAT_SECONDS", "MONGODB_HEARTBEAT_SECONDS"
        ),
    )
    ttl_seconds: float = Field(
        15.0,
        gt=0,
        le=86400,
        validation_alias=_env("ttl_seconds", "PLUGWORK_REGISTRY_TTL_SECONDS", "MONGODB_KEY_TTL_SECONDS"),
    )
    advertise_host: str | None = Field(
        None, max_length=255, validation_alias=_env("advertise_host", "PLUGWORK_REGISTRY_ADVERTISE_HOST")
    )
    """The host other instances reach this one at (default: ``http_host``, or this machine's name when
    that is a wildcard address)."""
    advertise_url: str | None = Field(
        None, max_length=2048, validation_alias=_env("advertise_url", "PLUGWORK_REGISTRY_ADVERTISE_URL")
    )
    """The HTTP base URL to register, when it is not ``http://<advertise_host>:<http_port>`` (a proxy)."""
    http: bool = Field(True, validation_alias=_env("http", "PLUGWORK_REGISTRY_HTTP"))
    """Whether this instance serves HTTP (false for ``plugwork worker`` processes)."""
    metadata: dict[str, Any] = Field(default_factory=dict, validation_alias=_env("metadata"))
    strategy: Strategy = Field("round_robin", validation_alias=_env("strategy", "PLUGWORK_REGISTRY_STRATEGY"))
    call_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("call_timeout_seconds", "PLUGWORK_REGISTRY_CALL_TIMEOUT_SECONDS")
    )
    max_connections: int = Field(
        100, ge=1, validation_alias=_env("max_connections", "PLUGWORK_REGISTRY_MAX_CONNECTIONS")
    )
    """The bound of the outbound HTTP connection pool of remote calls."""
    http_token: SecretStr | None = Field(
        None, validation_alias=_env("http_token", "PLUGWORK_REGISTRY_HTTP_TOKEN")
    )
    """Bearer token of ``GET /registry``; without one the route is not mounted (it reveals the fleet)."""

    @field_validator("url", "mongodb_uri", "http_token", "advertise_host", "advertise_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(orjson.dumps(value, default=str))
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
        return value

    @field_validator("advertise_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RegistrySettings:
        if self.ttl_seconds <= self.heartbeat_seconds:
            raise ValueError(
                f"ttl_seconds: must be longer than heartbeat_seconds ({self.heartbeat_seconds:g}), "
                "or every instance expires between two heartbeats"
            )
        if self.mongodb_min_pool_size > self.mongodb_max_pool_size:
            raise ValueError("mongodb_min_pool_size: must not exceed mongodb_max_pool_size")
        return self

    @property
    def active(self) -> bool:
        """Whether the registry runs: enabled explicitly, or a store URL given."""
        if self.enabled is not None:
            return self.enabled
        return self.url is not None or self.mongodb_uri is not None

    @property
    def store_url(self) -> str:
        """The store's URL (a secret: pass it to a store, never to a log)."""
        if self.url is not None:
            return self.url.get_secret_value()
        if self.mongodb_uri is not None:
            return self.mongodb_uri.get_secret_value()
        return DEFAULT_REGISTRY_URL
