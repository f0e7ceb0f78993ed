"""deploy/compose.yaml validates against the compose-spec JSON schema (vendored in check-jsonschema, with
its license) and describes the Vera scenario without a secret in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from deploy_helpers import DEPLOY, tool

COMPOSE = DEPLOY / "compose.yaml"


def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def test_validates_against_the_compose_spec_schema() -> None:
    result = tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_does_fail_a_bad_compose_file(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("condition: service_healthy", "condition: healthy", 1))
    assert tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad)).returncode != 0


def test_the_vera_scenario() -> None:
    found = services()
    assert {"postgres", "bootstrap", "hub", "app", "worker", "consumer"} == set(found)
    assert found["worker"]["deploy"]["replicas"] == 2 and found["consumer"]["deploy"]["replicas"] == 2
    assert found["worker"]["command"][:2] == ["plugwork", "worker"]
    assert found["hub"]["command"][:2] == ["plugwork", "hub"]
    assert found["app"]["command"][:2] == found["consumer"]["command"][:2] == ["plugwork", "run"]
    assert found["consumer"]["environment"]["WEBSOCKET_URL"] == "ws://hub:4000/websocket"
    assert found["bootstrap"]["command"] == ["plugwork-hub-init"]
    for name in ("hub", "app", "worker", "consumer"):
        conditions = {k: v["condition"] for k, v in found[name]["depends_on"].items()}
        assert conditions["bootstrap"] == "service_completed_successfully", name
        assert conditions["postgres"] == "service_healthy", name
        grace = int(found[name]["stop_grace_period"].rstrip("s"))
        assert grace > float(found[name]["environment"].get("SHUTDOWN_TIMEOUT_SECONDS", 30)), name


def test_no_secret_is_written_in_the_file() -> None:
    secretish = re.compile(r"TOKEN|PASSWORD|SECRET", re.IGNORECASE)
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if secretish.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} must be read from a file"
                assert str(value).startswith(("/run/secrets/", "/var/lib/plugwork/bootstrap/")), key
        for url in (v for v in (service.get("environment") or {}).values() if "://" in str(v)):
            assert "@" not in url or ":" not in url.split("://", 1)[1].split("@", 1)[0], url
    assert services()["app"]["environment"]["JOBS_API"] == "token"
