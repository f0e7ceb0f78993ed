"""The SOAJS models: registry and request context, validated, lenient with new fields, secrets hidden."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from soajs_data import inject, inject_header, registry_data

from plugwork.soajs import (
    Application,
    Awareness,
    ContextData,
    Database,
    Host,
    Key,
    Registry,
    ServiceConfig,
    Tenant,
    Urac,
    parse_inject_header,
)
from plugwork.soajs.models import (
    ConnectResponse,
    CustomRegistry,
    InterConnect,
    Resource,
    ServiceConfigIntervals,
)


def test_registry_reads_the_gateway_shape_and_keeps_unknown_fields() -> None:
    registry = Registry.model_validate(registry_data())
    assert registry.environment == "dev" and registry.time_loaded == 1795978062229
    assert isinstance(registry.core_dbs["provision"], Database)
    assert registry.core_dbs["provision"].servers[0].port == 27017  # type: ignore[index]
    assert registry.core_dbs["provision"].url_param == {"directConnection": True}
    assert registry.tenant_meta_dbs["urac"].cluster == "c1"
    assert isinstance(registry.service_config, ServiceConfig)
    assert registry.service_config.ports.maintenance_inc == 1000
    assert registry.custom["plugworkCustom"].value == {"answer": 42}
    assert isinstance(registry.resources["cluster"]["mongo1"], Resource)
    assert registry.services["pwgreeter"].port == 8000
    assert registry.model_extra == {"futureKey": [1, 2, 3]}
    assert registry.service_config.model_extra == {"somethingNew": {"kept": True}}


def test_reload_period_reads_both_spellings() -> None:
    assert Registry.model_validate(registry_data()).reload_period_ms == 5000  # SOAJS's "autoRelaodRegistry"
    fixed = registry_data(serviceConfig={"awareness": {"autoReloadRegistry": 7000}})
    assert Registry.model_validate(fixed).reload_period_ms == 7000
    assert ServiceConfigIntervals.model_validate({}).auto_reload_registry is None
    assert Registry.model_validate({"name": "dev"}).reload_period_ms == 3_600_000


def test_secrets_stay_out_of_repr() -> None:
    registry = Registry.model_validate(registry_data())
    text = repr(registry)
    assert "key-secret" not in text and "db-secret" not in text
    context = parse_inject_header(inject_header())
    assert "ext-key-secret" not in repr(context) and "a139786a" not in repr(context)
    assert context.key.e_key == "ext-key-secret"


def test_registry_rejects_a_wrong_type_naming_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Registry.model_validate(registry_data(services={"x": {"port": "not a port"}}))
    assert "services.x.port" in str(info.value).replace("\n", ".").replace(" ", "")


def test_context_shapes() -> None:
    context = parse_inject_header(inject_header())
    assert isinstance(context.tenant, Tenant) and context.tenant.code == "DBTN"
    assert context.tenant.profile == {"plan": "gold"}
    assert isinstance(context.key, Key) and context.key.i_key == "a139786a6e6d18e48b4987e83789430b"
    assert isinstance(context.application, Application) and context.application.package == "DSBRD_GUEST"
    assert isinstance(context.urac, Urac)
    assert context.urac.first_name == "Jörg Maria"  # URI-decoded
    assert context.urac.last_name == "O'Neil"
    assert context.urac.tenant is not None and context.urac.tenant.code == "DBTN"
    assert isinstance(context.awareness, Awareness) and Host is Awareness
    assert context.awareness.inter_connect[0] == InterConnect(
        name="urac", version="3", host="10.0.0.5", port=4001, latest="3"
    )
    assert context.device == "Mozilla/5.0" and context.geo == {"ip": "127.0.0.1"}
    assert context.param == {"urac_Profile": False, "urac_ACL": False}
    assert context.model_extra == {"someNewField": "kept"}


def test_context_fills_soajs_python_fields() -> None:
    context = parse_inject_header(inject_header())
    assert context.tenant.key is context.key
    assert context.tenant.application is context.application
    assert context.application is not None and context.application.package_acl == {"pwgreeter": {}}
    assert context.services_config == context.key.config


def test_minimal_context() -> None:
    context = ContextData.model_validate({"tenant": {"id": "t1", "code": "T"}})
    assert context.urac is None and context.application is None
    assert context.awareness.host == "" and context.awareness.inter_connect == []


def test_null_interconnect_version_is_allowed() -> None:
    context = ContextData.model_validate(
        inject(
            awareness={
                "host": "h",
                "port": 1,
                "interConnect": [{"name": "a", "version": None, "host": "x", "port": 2}],
            }
        )
    )
    assert context.awareness.inter_connect[0].version is None


def test_custom_and_connect_response() -> None:
    entry = CustomRegistry.model_validate({"name": "c", "value": 1})
    assert entry.locked is False and entry.value == 1
    response = ConnectResponse(host="gw:4000", prefix="/svc/v1", headers={"key": "k"})
    assert response.url("/path?a=1") == "http://gw:4000/svc/v1/path?a=1"
    assert response.url("x") == "http://gw:4000/svc/v1/x"
    assert "'k'" not in repr(response)


def test_soajs_python_module_paths() -> None:
    """soajs-python users change `soajs` to `plugwork.soajs` in each import line, nothing else."""
    from plugwork.soajs import RegistryManager as Top
    from plugwork.soajs.config import Config
    from plugwork.soajs.exceptions import ConfigValidationError, RegistryError, SOAJSError
    from plugwork.soajs.middleware import (
        ServiceConnector,
        SOAJSMiddleware,
        SOAJSWSGIMiddleware,
        get_soajs_context,
    )
    from plugwork.soajs.models import ContextData, Database, Registry, ServiceConfig, Tenant, Urac
    from plugwork.soajs.registry import RegistryManager

    assert Top is RegistryManager and issubclass(RegistryError, SOAJSError)
    assert all([Config, ConfigValidationError, SOAJSMiddleware, SOAJSWSGIMiddleware, ServiceConnector])
    assert all([get_soajs_context, ContextData, Database, Registry, ServiceConfig, Tenant, Urac])


@pytest.mark.parametrize(
    ("model", "data", "field", "value"),
    [
        ("Credentials", {"username": "u", "password": "p"}, "username", "u"),
        ("DBHost", {"host": "h", "port": 1}, "port", 1),
        ("RegistryLocation", {"l1": "coreDB", "l2": "x", "env": "dev"}, "l1", "coreDB"),
        ("Database", {"name": "d", "expireAfter": 5}, "expire_after", 5),
        ("ServiceConfigIntervals", {"healthCheckInterval": 5}, "health_check_interval", 5),
        ("ServiceKey", {"algorithm": "aes256", "password": "s"}, "algorithm", "aes256"),
        ("ServicePort", {"controller": 4000, "maintenanceInc": 1000}, "maintenance_inc", 1000),
        ("ServiceConfig", {"ports": {"controller": 4001}}, "ports", None),
        ("CustomRegistry", {"name": "c", "_id": "i"}, "id", "i"),
        ("Resource", {"name": "r", "_id": "i", "category": "mongo"}, "category", "mongo"),
        ("Service", {"group": "g", "port": 2}, "group", "g"),
        ("TenantMain", {"id": "m", "code": "M"}, "code", "M"),
        ("Key", {"iKey": "i", "eKey": "e"}, "e_key", "e"),
        ("Application", {"product": "P", "package": "P_1", "appId": "a"}, "app_id", "a"),
        ("Package", {"acl": {"a": 1}}, "acl", {"a": 1}),
        ("Tenant", {"id": "t", "code": "T", "main": {"id": "m", "code": "M"}}, "code", "T"),
        ("UracTenant", {"id": "t", "code": "T"}, "id", "t"),
        ("Urac", {"_id": "u", "groupsConfig": [1]}, "groups_config", [1]),
        ("InterConnect", {"name": "n", "host": "h", "port": 3}, "latest", None),
        ("Awareness", {"host": "h", "port": 4000}, "inter_connect", []),
        ("ContextData", {"tenant": {"id": "t", "code": "T"}}, "urac", None),
        ("Registry", {"name": "dev"}, "services", {}),
    ],
)
def test_every_model_reads_aliases_and_keeps_new_fields(
    model: str, data: dict, field: str, value: object
) -> None:
    from plugwork.soajs import models

    cls = getattr(models, model)
    instance = cls.model_validate({**data, "addedByANewerGateway": True})
    if value is not None or field in ("latest", "urac"):
        assert getattr(instance, field) == value
    assert instance.model_extra == {"addedByANewerGateway": True}
    with pytest.raises(ValidationError):
        cls.model_validate([])


def test_every_public_name_resolves() -> None:
    import plugwork.soajs as package

    assert sorted(package.__all__) == sorted(set(package.__all__))
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError):
        _ = package.NoSuchName  # type: ignore[attr-defined]
