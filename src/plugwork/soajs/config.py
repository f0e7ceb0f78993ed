"""``Config``: a SOAJS service's configuration, validated with errors that name the field at fault.

The same fields and aliases as soajs-python's ``Config`` (``name``, ``group``, ``port``, ``version``,
``type``, ``maintenance``, ``extKeyRequired``, ``interConnect``, ...). An invalid configuration raises
:class:`~plugwork.soajs.ConfigValidationError` whose ``key`` is the field (``maintenance.port.type``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .exceptions import ConfigValidationError

NAME_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


class MaintenancePort(BaseModel):
    """Where the gateway finds the health check: ``maintenance`` (port + maintenanceInc), ``inherit`` (the
    service port) or a fixed ``value``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["maintenance", "inherit", "custom"] = "maintenance"
    value: int | None = Field(None, gt=0, lt=65536)


class MaintenanceCommand(BaseModel):
    """A maintenance command the SOAJS console offers."""

    label: str
    path: str
    icon: str = ""


class Maintenance(BaseModel):
    """The health check the gateway polls."""

    model_config = ConfigDict(extra="forbid")

    port: MaintenancePort = Field(default_factory=MaintenancePort)
    readiness: str = Field("/heartbeat", pattern=r"^/")
    commands: list[MaintenanceCommand] | None = None


class InterConnectConfig(BaseModel):
    """A service this one calls directly."""

    name: str = Field(pattern=NAME_PATTERN, min_length=1)
    version: str | None = Field(None, pattern=VERSION_PATTERN)


class Config(BaseModel):
    """A SOAJS service configuration. ``Config(**fields)`` raises :class:`ConfigValidationError`."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    service_name: str = Field(alias="name", pattern=NAME_PATTERN, min_length=1, max_length=128)
    service_group: str = Field(alias="group", pattern=NAME_PATTERN, min_length=1, max_length=128)
    service_port: int = Field(alias="port", gt=0, lt=65536)
    service_ip: str | None = Field(None, alias="IP")
    type: Literal["service", "mdaemon", "daemon"] = "service"
    service_version: str = Field("1", alias="version", pattern=VERSION_PATTERN)
    sub_type: str | None = Field(None, alias="subType")
    description: str | None = None
    oauth: bool = False
    urac: bool = False
    urac_profile: bool = Field(False, alias="urac_Profile")
    urac_acl: bool = Field(False, alias="urac_ACL")
    urac_config: bool = Field(False, alias="urac_Config")
    urac_group_config: bool = Field(False, alias="urac_GroupConfig")
    tenant_profile: bool = Field(False, alias="tenant_Profile")
    provision_acl: bool = Field(False, alias="provision_ACL")
    ext_key_required: bool = Field(True, alias="extKeyRequired")
    request_timeout: int = Field(30, alias="requestTimeout", ge=0)
    request_timeout_renewal: int = Field(0, alias="requestTimeoutRenewal", ge=0)
    maintenance: Maintenance = Field(default_factory=Maintenance)
    inter_connect: list[InterConnectConfig] | None = Field(None, alias="interConnect")
    prerequisites: dict[str, Any] | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc) from None

    @classmethod
    def validate_dict(cls, data: dict[str, Any]) -> Config:
        """Validate a configuration mapping (raises :class:`ConfigValidationError`)."""
        return cls(**data)

    def validate_maintenance(self) -> None:
        """soajs-python's check, kept for its users (the model already enforces it)."""
        if not self.maintenance.readiness:
            raise ConfigValidationError("is required", key="maintenance.readiness")

    def registration(self, ip: str) -> dict[str, Any]:
        """The ``POST /register`` body for this service at ``ip`` (``mw: true``, as the gateway expects)."""
        body = self.model_dump(by_alias=True, exclude_none=True, exclude={"service_ip", "prerequisites"})
        body.update(ip=ip, mw=True)
        return body


def config_error(exc: ValidationError) -> ConfigValidationError:
    """One :class:`ConfigValidationError` naming every field at fault (the first as its ``key``)."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    keys = [".".join(str(p) for p in err["loc"]) or "(config)" for err in errors]
    message = "; ".join(f"{key}: {err['msg']}" for key, err in zip(keys, errors, strict=True))
    error = ConfigValidationError(message)
    error.key = keys[0] if keys else None
    return error


def valid_name(name: str) -> bool:
    """Whether ``name`` is a valid SOAJS service or group name."""
    return bool(name) and re.match(NAME_PATTERN, name) is not None
