"""What the registry shows outside the process (``GET /registry``, ``plugwork registry``): safe by default.

Listings leave out what an instance's document may carry that a reader of the fleet needs not see: a
password in a URL is masked, and health checks are reduced to their statuses (their details can hold
error messages naming internal systems).
"""

from __future__ import annotations

from typing import Any

from .models import Instance, SchemaRecord, redact_url


def instance_entry(inst: Instance) -> dict[str, Any]:
    """One instance as listings show it."""
    doc = inst.to_json()
    transports = dict(doc["transports"])
    if transports.get("http"):
        transports["http"] = redact_url(transports["http"])
    doc["transports"] = transports
    doc["health_checks"] = {
        name: {"status": check.get("status")} if isinstance(check, dict) else {"status": None}
        for name, check in inst.health_checks.items()
    }
    return doc


def fleet_listing(instances: list[Instance]) -> dict[str, Any]:
    """``{"services": {name: {"versions": [...], "instances": [...]}}}`` for a list of instances."""
    services: dict[str, dict[str, Any]] = {}
    for inst in instances:
        entry = services.setdefault(inst.service_name, {"versions": [], "instances": []})
        if inst.service_version not in entry["versions"]:
            entry["versions"].append(inst.service_version)
        entry["instances"].append(instance_entry(inst))
    for entry in services.values():
        entry["versions"].sort()
    return {"services": dict(sorted(services.items()))}


def schema_entry(record: SchemaRecord) -> dict[str, Any]:
    """One schema record as listings show it."""
    return record.to_json()
