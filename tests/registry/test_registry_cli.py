"""``plugwork registry list | show | schemas`` on a SQLite registry, and the URL never printed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugwork.cli import main
from plugwork.registry.models import Instance, SchemaRecord, Transports
from plugwork.registry.store import store_from_url

ACTIONS = (
    {
        "name": "charge",
        "input_schema": {
            "type": "object",
            "properties": {"amount": {}, "currency": {}},
            "required": ["amount"],
        },
        "output_schema": {},
    },
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/registry.db"

    async def fill() -> None:
        store = store_from_url(url)
        await store.open()
        for i, version in enumerate(("1.0.0", "1.0.0", "1.1.0")):
            await store.register(
                Instance(
                    f"id-{i}",
                    "billing",
                    version,
                    "10.0.0.1",
                    8000 + i,
                    Transports(f"http://user:pw@10.0.0.1:{8000 + i}", ("billing",)),
                    health_status="RED" if i == 2 else "GREEN",
                    health_checks={"db": {"status": "GREEN", "details": {"dsn": "secret-dsn"}}},
                    metadata={"zone": "eu"},
                ),
                ttl=60,
            )
        await store.register(Instance("id-9", "audit", "2.0.0", "10.0.0.2", 9000), ttl=60)
        await store.publish_schemas(SchemaRecord("billing", "1.0.0", ACTIONS), ttl=60)
        await store.close()

    asyncio.run(fill())
    return url


def run(*args: str) -> str:
    result = CliRunner().invoke(main, ["registry", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_shows_services_versions_and_health(url: str) -> None:
    out = run("list", "--url", url)
    billing = next(line for line in out.splitlines() if line.startswith("billing"))
    assert billing.split() == ["billing", "1.0.0,1.1.0", "3", "2"]
    assert any(line.startswith("audit") for line in out.splitlines())
    listing = json.loads(run("list", "--url", url, "--json"))
    assert sorted(listing["services"]) == ["audit", "billing"]
    assert listing["services"]["billing"]["versions"] == ["1.0.0", "1.1.0"]


def test_show_masks_passwords_and_health_details(url: str) -> None:
    out = run("show", "billing", "--url", url)
    assert "id-0" in out and "http://user:***@10.0.0.1:8000" in out and "pw@" not in out
    entries = json.loads(run("show", "billing", "--url", url, "--json"))
    assert [e["instance_id"] for e in entries] == ["id-0", "id-1", "id-2"]
    assert entries[0]["health_checks"] == {"db": {"status": "GREEN"}}
    assert "secret-dsn" not in json.dumps(entries)


def test_schemas_lists_actions(url: str) -> None:
    out = run("schemas", "billing", "--url", url)
    assert "billing:1.0.0" in out and "charge(amount, currency)  required: amount" in out
    [record] = json.loads(run("schemas", "billing", "--url", url, "--json", "--version", "1.0.0"))
    assert record["actions"][0]["name"] == "charge"


def test_unknown_service_is_an_error(url: str) -> None:
    result = CliRunner().invoke(main, ["registry", "show", "nobody", "--url", url])
    assert result.exit_code == 1 and "no live instance of 'nobody'" in result.output


def test_url_defaults_to_the_setting_and_is_not_echoed(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PLUGWORK_REGISTRY_URL", url)
    assert "billing" in run("list")
    monkeypatch.setenv("PLUGWORK_REGISTRY_URL", "mysql://root:hunter2@db/x")
    result = CliRunner().invoke(main, ["registry", "list"])
    assert (
        result.exit_code == 1
        and "hunter2" not in result.output
        and "unsupported registry URL" in result.output
    )


def test_url_from_the_yaml_plugin_section(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLUGWORK_REGISTRY_URL", raising=False)
    config = tmp_path / "plugwork.yaml"
    config.write_text(f"plugins:\n  registry:\n    url: {url}\n")
    assert "billing" in run("list", "--config", str(config))
