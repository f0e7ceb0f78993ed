"""Test data shaped like what the real gateway sends (a registry envelope and a ``soajsinjectobj``)."""

from __future__ import annotations

import json
from typing import Any

TENANT_ID = "5c0e74ba9acc3c5a84a51259"


def registry_data(**changes: Any) -> dict[str, Any]:
    """A ``getRegistry`` ``data`` object, with SOAJS's own ``autoRelaodRegistry`` spelling."""
    data: dict[str, Any] = {
        "timeLoaded": 1795978062229,
        "name": "dev",
        "environment": "dev",
        "domain": "localhost",
        "port": 4000,
        "coreDB": {
            "provision": {
                "name": "core_provision",
                "prefix": "",
                "servers": [{"host": "127.0.0.1", "port": 27017}],
                "credentials": {"username": "admin", "password": "db-secret"},
                "URLParam": {"directConnection": True},
                "registryLocation": {"l1": "coreDB", "l2": "provision", "env": "dev"},
            }
        },
        "tenantMetaDB": {"urac": {"name": "urac", "cluster": "c1", "prefix": "", "servers": []}},
        "serviceConfig": {
            "awareness": {"cacheTTL": 3600000, "healthCheckInterval": 500, "autoRelaodRegistry": 5000},
            "key": {"algorithm": "aes256", "password": "key-secret"},
            "ports": {"controller": 4000, "maintenanceInc": 1000, "randomInc": 100},
            "somethingNew": {"kept": True},
        },
        "custom": {
            "plugworkCustom": {
                "_id": "5497fdb4ff405ac9e4f62159",
                "name": "plugworkCustom",
                "locked": False,
                "plugged": True,
                "shared": True,
                "value": {"answer": 42},
                "created": "DEV",
                "author": "tests",
            }
        },
        "resources": {"cluster": {"mongo1": {"name": "mongo1", "type": "cluster", "config": {"x": 1}}}},
        "services": {
            "controller": {"group": "Gateway", "port": 4000},
            "pwgreeter": {"group": "g", "port": 8000},
        },
        "awareness": {"host": "127.0.0.1", "port": 4000},
        "futureKey": [1, 2, 3],
    }
    data.update(changes)
    return data


def envelope(data: Any = None, *, result: bool = True, errors: list[dict[str, Any]] | None = None) -> bytes:
    """The maintenance API's answer around ``data``."""
    body: dict[str, Any] = {"result": result, "ts": 1, "service": {"service": "soajs.controller"}}
    if data is not None:
        body["data"] = data
    if errors:
        body["errors"] = {"codes": [e["code"] for e in errors], "details": errors}
    return json.dumps(body).encode()


def inject(**changes: Any) -> dict[str, Any]:
    """A ``soajsinjectobj`` object like the gateway's (URI-encoded user names)."""
    obj: dict[str, Any] = {
        "tenant": {
            "id": TENANT_ID,
            "name": "Console Tenant",
            "code": "DBTN",
            "locked": True,
            "roaming": None,
            "type": "product",
            "profile": {"plan": "gold"},
        },
        "key": {
            "config": {"commonFields": {"mail": "x"}, "pwgreeter": {"greeting": "hi"}},
            "iKey": "a139786a6e6d18e48b4987e83789430b",
            "eKey": "ext-key-secret",
        },
        "application": {"product": "DSBRD", "package": "DSBRD_GUEST", "appId": "5c0e74ba9acc3c5a84a5125a"},
        "package": {"acl": {"pwgreeter": {}}, "acl_all_env": {"dev": {}}},
        "device": "Mozilla/5.0",
        "geo": {"ip": "127.0.0.1"},
        "urac": {
            "_id": "5c8d0c505653de3985aa0ffd",
            "username": "owner",
            "firstName": "J%C3%B6rg%20Maria",
            "lastName": "O'Neil",
            "email": "me@example.com",
            "groups": ["owner"],
            "tenant": {"id": TENANT_ID, "code": "DBTN"},
        },
        "param": {"urac_Profile": False, "urac_ACL": False},
        "awareness": {
            "host": "127.0.0.1",
            "port": 4000,
            "interConnect": [
                {"name": "urac", "version": "3", "host": "10.0.0.5", "port": 4001, "latest": "3"},
                {"name": "urac", "version": "2", "host": "10.0.0.6", "port": 4001, "latest": "3"},
                {"name": "orders", "version": "1", "host": "10.0.0.7", "port": 4010, "latest": "2"},
            ],
        },
        "someNewField": "kept",
    }
    obj.update(changes)
    return obj


def inject_header(**changes: Any) -> bytes:
    """:func:`inject` as the header's bytes."""
    return json.dumps(inject(**changes)).encode()
