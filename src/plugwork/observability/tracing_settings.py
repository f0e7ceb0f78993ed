""":class:`TracingSettings`: the standard ``OTEL_*`` variables, usvc-lib's names and Plugwork's own.

Tracing is off until an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``enabled: true`` says so; log export is on, independently,
when ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (or the generic endpoint) is set. Settings live in the
``plugins.tracing:`` YAML section.
"""

from __future__ import annotations

import base64
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from ..config import PluginSettings

Protocol = Literal["http/protobuf", "grpc"]
Propagation = Literal["child", "link"]
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


def _env(field: str, *standard: str) -> AliasChoices:
    # Every field has an explicit list of variables: never a bare name (``USER`` is set on every machine).
    return AliasChoices(f"PLUGWORK_TRACING_{field.upper()}", *standard)


class TracingSettings(PluginSettings):
    """OpenTelemetry export and sampling settings (see docs/observability.md for every name)."""

    # Errors name the field (plugins.tracing.sampler), not the first of its environment names.
    model_config = SettingsConfigDict(loc_by_alias=False)

    enabled: bool | None = Field(None, validation_alias=_env("enabled"))
    service_name: str | None = Field(None, validation_alias=_env("service_name", "OTEL_SERVICE_NAME"))
    endpoint: str = Field("", validation_alias=_env("endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"))
    traces_endpoint: str = Field(
        "", validation_alias=_env("traces_endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    logs_endpoint: str = Field("", validation_alias=_env("logs_endpoint", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"))
    protocol: Protocol = Field(
        "http/protobuf",
        validation_alias=_env(
            "protocol", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"
        ),
    )
    compression: Literal["", "none", "gzip"] = Field(
        "",
        validation_alias=_env(
            "compression", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"
        ),
    )
    # Plugwork's own protobuf encoder for http/protobuf (4x faster than the stock one; see otlp_encode).
    fast_exporter: bool = Field(True, validation_alias=_env("fast_exporter"))
    headers: SecretStr = Field(SecretStr(""), validation_alias=_env("headers", "OTEL_EXPORTER_OTLP_HEADERS"))
    user: str = Field("", validation_alias=_env("user", "OTEL_EXPORTER_OTLP_USER"))
    password: SecretStr = Field(
        SecretStr(""), validation_alias=_env("password", "OTEL_EXPORTER_OTLP_PASSWORD")
    )
    insecure: bool = Field(True, validation_alias=_env("insecure", "OTEL_EXPORTER_OTLP_INSECURE"))
    sampler: str = Field("parentbased_always_on", validation_alias=_env("sampler", "OTEL_TRACES_SAMPLER"))
    sampler_arg: float = Field(
        1.0, ge=0, le=1, validation_alias=_env("sampler_arg", "OTEL_TRACES_SAMPLER_ARG")
    )
    export_timeout_seconds: float = Field(10.0, gt=0, le=300, validation_alias=_env("export_timeout_seconds"))
    shutdown_timeout_seconds: float = Field(
        5.0, ge=0, le=300, validation_alias=_env("shutdown_timeout_seconds")
    )
    max_queue_size: int = Field(2048, ge=1, le=1_000_000, validation_alias=_env("max_queue_size"))
    # How a job's span relates to its enqueuer's: "child" (one trace) or "link" (its own trace, linked),
    # by queue name; "*" sets the default. Unset: jobs of a bulk enqueue link, the others are children.
    queue_propagation: dict[str, Propagation] = Field(
        default_factory=dict, validation_alias=_env("queue_propagation")
    )

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}; one of {', '.join(SAMPLERS)}")
        return value

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def tracing_on(self) -> bool:
        """Whether spans are made: ``enabled``, or by default when a traces endpoint is set."""
        if self.enabled is not None:
            return self.enabled
        return bool(self.traces_endpoint or self.endpoint)

    @property
    def logs_on(self) -> bool:
        """Whether structlog events are exported as OTLP log records."""
        return bool(self.logs_endpoint or self.endpoint)

    def signal_endpoint(self, signal: Literal["traces", "logs"]) -> str:
        """The endpoint for one signal: its own, else the generic one (+ ``/v1/<signal>`` over HTTP)."""
        own = self.traces_endpoint if signal == "traces" else self.logs_endpoint
        if own:
            return own
        if not self.endpoint or self.protocol == "grpc":
            return self.endpoint
        return f"{self.endpoint.rstrip('/')}/v1/{signal}"

    def export_headers(self) -> dict[str, str]:
        """``OTEL_EXPORTER_OTLP_HEADERS`` (``k=v,k2=v2``, URL-encoded values) plus basic auth if set."""
        headers: dict[str, str] = {}
        for item in self.headers.get_secret_value().split(","):
            key, sep, value = item.partition("=")
            if sep and key.strip():
                headers[key.strip().lower()] = unquote(value.strip())
        if self.user:
            token = f"{self.user}:{self.password.get_secret_value()}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(token).decode()
        return headers

    def propagation(self, queue: str) -> Propagation | None:
        """``child`` or ``link`` for jobs of ``queue``, None when not configured (bulk links, else child)."""
        return self.queue_propagation.get(queue) or self.queue_propagation.get("*")
