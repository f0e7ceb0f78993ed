"""The SOAJS plugin's settings: soajs-python's environment variables, or ``plugins.soajs:`` in YAML.

Apart from the plugin module, the one module of this package that every app imports (to decide whether the
plugin is on): it needs nothing but Pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from ..config import PluginSettings

DEFAULT_MAX_HEADER_SIZE = 65_536
"""The default size limit of the gateway's ``soajsinjectobj`` header, in bytes."""
CHECK_INTERVAL = 5.0
"""Seconds between two checks that the gateway still knows this service."""


def _env(field: str, *names: str) -> AliasChoices:
    return AliasChoices(field, f"PLUGWORK_SOAJS_{field.upper()}", *names)


class SoajsSettings(PluginSettings):
    """The SOAJS plugin's settings: the soajs-python environment variables, or ``plugins.soajs:`` in YAML."""

    registry_api: str | None = Field(None, validation_alias=_env("registry_api", "SOAJS_REGISTRY_API"))
    env: str = Field("dev", validation_alias=_env("env", "SOAJS_ENV"))
    deploy_manual: bool = Field(False, validation_alias=_env("deploy_manual", "SOAJS_DEPLOY_MANUAL"))
    service_version: str = Field(
        "1", pattern=r"^[0-9]+(\.[0-9]+)?$", validation_alias=_env("service_version", "soajs_service_version")
    )
    group: str = Field("plugwork", validation_alias=_env("group", "SOAJS_SERVICE_GROUP"))
    port: int | None = Field(None, gt=0, lt=65536, validation_alias=_env("port", "SOAJS_SERVICE_PORT"))
    """The port the gateway calls (default: the app's ``http_port``)."""
    ip: str = Field("127.0.0.1", validation_alias=_env("ip", "SOAJS_SRVIP"))
    """The address the gateway reaches this service at."""
    maintenance_host: str | None = Field(None, validation_alias=_env("maintenance_host"))
    """Where the heartbeat server listens (default: the app's ``http_host``)."""
    require_context: bool = Field(False, validation_alias=_env("require_context"))
    """Refuse (401) HTTP requests without the gateway's header, except health probes."""
    ext_key_required: bool = Field(True, validation_alias=_env("ext_key_required"))
    oauth: bool = Field(False, validation_alias=_env("oauth"))
    max_header_size: int = Field(
        DEFAULT_MAX_HEADER_SIZE,
        gt=0,
        validation_alias=_env("max_header_size", "SOAJS_MAX_INJECT_HEADER_SIZE"),
    )
    timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("timeout_seconds"))
    register_check_seconds: float = Field(
        CHECK_INTERVAL, ge=1.0, validation_alias=_env("register_check_seconds")
    )

    @field_validator("registry_api", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value
