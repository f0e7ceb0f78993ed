"""The SOAJS data shapes: the registry a gateway serves and the ``soajsinjectobj`` request context.

Field names follow soajs-python (snake_case attributes, the gateway's camelCase as aliases), so code written
for it keeps working. Every model keeps the unknown fields a newer gateway adds (``extra="allow"``) instead of
rejecting them, and secrets (key passwords, internal and external keys, database credentials) are left out of
``repr`` so that a logged model never shows them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, model_validator

_OPEN = ConfigDict(populate_by_name=True, extra="allow")


class SoajsModel(BaseModel):
    """Base of every SOAJS model: aliases or names accepted, unknown fields kept."""

    model_config = _OPEN


# ------------------------------------------------------------------------------------------------ registry
class Credentials(SoajsModel):
    """Database credentials (never shown in ``repr``)."""

    username: str = Field("", repr=False)
    password: str = Field("", repr=False)


class DBHost(SoajsModel):
    """One server of a database cluster."""

    host: str
    port: int


class RegistryLocation(SoajsModel):
    """Where in the registry a database entry came from."""

    l1: str = ""
    l2: str = ""
    env: str = ""


class Database(SoajsModel):
    """A database entry of the registry (``coreDB`` or ``tenantMetaDB``)."""

    name: str = ""
    prefix: str | None = None
    cluster: str | None = None
    servers: list[DBHost] | None = None
    credentials: Credentials | None = Field(None, repr=False)
    streaming: Any = None
    registry_location: RegistryLocation | None = Field(None, alias="registryLocation")
    url_param: Any = Field(None, alias="URLParam")
    extra_param: Any = Field(None, alias="extraParam")
    store: Any = None
    collection: str | None = None
    stringify: bool | None = None
    expire_after: int | None = Field(None, alias="expireAfter")


class ServiceConfigIntervals(SoajsModel):
    """``serviceConfig.awareness``: the registry's intervals, in ms.

    ``auto_reload_registry`` reads both ``autoReloadRegistry`` and SOAJS's own spelling,
    ``autoRelaodRegistry``, which the real gateway serves.
    """

    cache_ttl: int | None = Field(None, alias="cacheTTL")
    health_check_interval: int | None = Field(None, alias="healthCheckInterval")
    auto_reload_registry: int | None = Field(None, alias="autoReloadRegistry")
    max_log_count: int | None = Field(None, alias="maxLogCount")
    auto_register_service: bool | None = Field(None, alias="autoRegisterService")

    @model_validator(mode="before")
    @classmethod
    def _typo(cls, data: Any) -> Any:
        if isinstance(data, dict) and "autoRelaodRegistry" in data and "autoReloadRegistry" not in data:
            data = {**data, "autoReloadRegistry": data["autoRelaodRegistry"]}
        return data


class ServiceKey(SoajsModel):
    """The environment's key algorithm and password (the password never shown in ``repr``)."""

    algorithm: str = ""
    password: str = Field("", repr=False)


class ServicePort(SoajsModel):
    """Port rules: the gateway's port and the increments services derive theirs from."""

    controller: int = 4000
    maintenance_inc: int = Field(1000, alias="maintenanceInc")
    random_inc: int | None = Field(None, alias="randomInc")


class ServiceConfig(SoajsModel):
    """``serviceConfig``: awareness, ports, key and the environment's other service settings."""

    awareness: ServiceConfigIntervals = Field(default_factory=ServiceConfigIntervals)
    agent: dict[str, Any] | None = None
    key: ServiceKey | None = Field(None, repr=False)
    logger: dict[str, Any] | None = None
    ports: ServicePort = Field(default_factory=ServicePort)
    cookie: dict[str, Any] | None = Field(None, repr=False)
    session: dict[str, Any] | None = Field(None, repr=False)


class CustomRegistry(SoajsModel):
    """A custom registry entry, ``value`` being the user's own configuration."""

    id: str | None = Field(None, alias="_id")
    name: str
    locked: bool = False
    plugged: bool = False
    shared: bool = False
    value: Any = None
    created: str | None = None
    author: str | None = None


class Resource(SoajsModel):
    """A resource (cluster, server, ...) of the registry."""

    id: str | None = Field(None, alias="_id")
    name: str
    type: str | None = None
    category: str | None = None
    created: str | None = None
    author: str | None = None
    locked: bool = False
    plugged: bool = False
    shared: bool = False
    config: Any = None


class Service(SoajsModel):
    """A service the registry knows: its group and port."""

    group: str | None = None
    port: int | None = None


class Registry(SoajsModel):
    """The registry a gateway serves for one environment (``getRegistry``'s ``data``)."""

    time_loaded: int = Field(0, alias="timeLoaded")
    name: str
    environment: str = ""
    service_type: str | None = None
    core_dbs: dict[str, Database] = Field(default_factory=dict, alias="coreDB")
    tenant_meta_dbs: dict[str, Database] = Field(default_factory=dict, alias="tenantMetaDB")
    service_config: ServiceConfig = Field(default_factory=ServiceConfig, alias="serviceConfig")
    custom: dict[str, CustomRegistry] = Field(default_factory=dict)
    resources: dict[str, dict[str, Resource]] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    daemons: dict[str, Service] = Field(default_factory=dict)
    domain: str | None = None
    api_prefix: str | None = Field(None, alias="apiPrefix")
    protocol: str | None = None
    port: int | None = None
    deployer: dict[str, Any] | None = None
    awareness: dict[str, Any] | None = None

    @property
    def reload_period_ms(self) -> int:
        """The auto-reload period the registry asks for (default one hour)."""
        return self.service_config.awareness.auto_reload_registry or 3_600_000


# ----------------------------------------------------------------------------------------- request context
class TenantMain(SoajsModel):
    """The main tenant of a client tenant."""

    id: str
    code: str


class Key(SoajsModel):
    """The caller's key: the services' configuration, internal and external key (keys never in ``repr``)."""

    config: dict[str, Any] = Field(default_factory=dict)
    i_key: str | None = Field(None, alias="iKey", repr=False)
    e_key: str | None = Field(None, alias="eKey", repr=False)


class Application(SoajsModel):
    """The tenant application the key belongs to (ACLs only when the service asked for them)."""

    product: str = ""
    package: str = ""
    app_id: str | None = Field(None, alias="appId")
    acl: Any = None
    acl_all_env: Any = None
    package_acl: Any = None
    package_acl_all_env: Any = None


class Package(SoajsModel):
    """The package's ACLs (only when the service registered with ``provision_ACL``)."""

    acl: Any = None
    acl_all_env: Any = None


class Tenant(SoajsModel):
    """The tenant calling. ``key`` and ``application`` are filled in as soajs-python did."""

    id: str
    code: str
    name: str | None = None
    locked: bool = False
    type: str | None = None
    roaming: Any = None
    main: TenantMain | None = None
    profile: Any = None
    key: Key = Field(default_factory=Key)
    application: Application | None = None


class UracTenant(SoajsModel):
    """The tenant a user belongs to."""

    id: str
    code: str


class Urac(SoajsModel):
    """The logged-in user, if any (``firstName``/``lastName`` arrive URI-encoded and are decoded)."""

    id: str = Field(alias="_id")
    username: str = ""
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    email: str | None = None
    groups: list[str] = Field(default_factory=list)
    social_login: Any = Field(None, alias="socialLogin")
    tenant: UracTenant | None = None
    profile: Any = None
    acl: Any = None
    acl_all_env: Any = Field(None, alias="acl_AllEnv")
    config: Any = None
    groups_config: Any = Field(None, alias="groupsConfig")


class InterConnect(SoajsModel):
    """A service this one may call directly (the mesh)."""

    name: str
    version: str | None = None
    host: str
    port: int
    latest: str | None = None


class Awareness(SoajsModel):
    """``awareness`` in the header: where the gateway is, and the services reachable directly."""

    host: str = ""
    port: int = 0
    inter_connect: list[InterConnect] = Field(default_factory=list, alias="interConnect")


Host = Awareness  # soajs-python's name


class ContextData(SoajsModel):
    """The SOAJS context of one request: who calls (tenant, key, application, user) and where things are."""

    model_config = ConfigDict(populate_by_name=True, extra="allow", arbitrary_types_allowed=True)

    tenant: Tenant
    key: Key = Field(default_factory=Key)
    application: Application | None = None
    package: Package | None = None
    urac: Urac | None = None
    param: dict[str, Any] | None = None
    device: Any = None
    geo: Any = None
    awareness: Awareness = Field(default_factory=Awareness)
    services_config: dict[str, Any] = Field(default_factory=dict)
    registry: Registry | None = Field(None, repr=False)
    raw: str = Field("", repr=False, exclude=True)
    """The header exactly as received (forwarded as is to mesh services)."""

    def model_post_init(self, context: Any, /) -> None:
        # One plain hook rather than validators: each Python validator costs ~2 µs per request.
        urac = self.urac
        if urac is not None:
            # The gateway sends the names encodeURIComponent()-ed, so that any name fits in a header.
            if urac.first_name and "%" in urac.first_name:
                urac.first_name = unquote(urac.first_name)
            if urac.last_name and "%" in urac.last_name:
                urac.last_name = unquote(urac.last_name)
        # soajs-python users read tenant.key, tenant.application and services_config: fill them in.
        self.tenant.key = self.key
        if self.application is not None:
            if self.package is not None:
                self.application.package_acl = self.package.acl
                self.application.package_acl_all_env = self.package.acl_all_env
            self.tenant.application = self.application
        if not self.services_config:
            self.services_config = self.key.config


class ConnectResponse(SoajsModel):
    """Where to call another service: ``host`` (``host:port``), a path ``prefix`` and the headers to send."""

    host: str
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    prefix: str = ""
    mesh: bool = False

    def url(self, path: str = "/", scheme: str = "http") -> str:
        """The full URL of ``path`` on the target service."""
        return f"{scheme}://{self.host}{self.prefix}/{path.lstrip('/')}"
