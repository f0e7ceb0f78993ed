"""deploy/k8s passes kubernetes-validate (strict), and its Deployments have the probes, grace periods and
resource requests docs/deploy.md describes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from deploy_helpers import K8S, ROOT, tool

from plugwork.cli import main

MANIFESTS = sorted(K8S.glob("*.yaml"))


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == "Deployment"}


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


def test_kubernetes_validate_passes_strictly() -> None:
    result = tool("kubernetes-validate", "--strict", *map(str, MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(documents())


def test_kubernetes_validate_does_fail_a_bad_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((K8S / "worker.yaml").read_text().replace("periodSeconds: 5", "periodSeconds: five"))
    assert tool("kubernetes-validate", "--strict", str(bad)).returncode != 0


def test_app_worker_hub_and_consumer_deployments_with_services() -> None:
    assert set(deployments()) == {"plugwork-app", "plugwork-worker", "plugwork-hub", "plugwork-consumer"}
    services = {d["metadata"]["name"] for d in documents() if d["kind"] == "Service"}
    assert services == {"plugwork-app", "plugwork-hub"}
    kinds = {d["kind"] for d in documents()}
    assert {"ConfigMap", "Secret"} <= kinds


def test_the_secret_ships_no_value() -> None:
    [secret] = [d for d in documents() if d["kind"] == "Secret"]
    assert secret["stringData"] and all(value == "" for value in secret["stringData"].values())
    assert "data" not in secret


def test_http_probes_grace_periods_and_requests() -> None:
    [config] = [d for d in documents() if d["kind"] == "ConfigMap"]
    shutdown = float(config["data"]["SHUTDOWN_TIMEOUT_SECONDS"])
    deploy_doc = (ROOT / "docs" / "deploy.md").read_text()
    for name, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > shutdown, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container), name
        requested = mebibytes(container["resources"]["requests"]["memory"])
        measured = re.search(rf"\| `{name}` \|[^|]*\| (\d+) MiB \|", deploy_doc)
        assert measured, f"docs/deploy.md gives the measured idle RSS of {name}"
        assert requested >= int(measured.group(1)), name
        assert mebibytes(container["resources"]["limits"]["memory"]) > requested
        if name == "plugwork-worker":
            continue
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_the_worker_probes_run_a_real_plugwork_command() -> None:
    [container] = deployments()["plugwork-worker"]["spec"]["template"]["spec"]["containers"]
    commands = [
        container[probe]["exec"]["command"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    ]
    for command in commands:
        assert command[:3] == ["plugwork", "jobs", "worker-health"]
        result = CliRunner().invoke(main, [*command[1:], "--help"])
        assert result.exit_code == 0, result.output
    assert "--unreachable-ok" in commands[1] and "--unreachable-ok" not in commands[2]


def test_the_pods_run_the_commands_and_settings_the_compose_scenario_tests() -> None:
    """Kubernetes runs what test_compose_scenario.py runs: the same commands, settings of the same names
    (the secrets given directly instead of through *_FILE files)."""
    compose = yaml.safe_load((K8S.parent / "compose.yaml").read_text())["services"]
    [config] = [d for d in documents() if d["kind"] == "ConfigMap"]
    for name, deployment in deployments().items():
        service = compose[name.removeprefix("plugwork-")]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == service["command"], name
        used = {e["name"] for e in container["env"]} | set(config["data"])
        known = {key.removesuffix("_FILE") for s in compose.values() for key in (s.get("environment") or {})}
        assert used - known == set(), f"{name}: settings the compose scenario does not exercise"
        for entry in container["env"]:
            if "valueFrom" in entry:
                assert entry["valueFrom"]["secretKeyRef"] == {
                    "name": "plugwork-secrets",
                    "key": entry["name"],
                }
