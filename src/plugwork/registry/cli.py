"""``plugwork registry list | show SERVICE | schemas SERVICE``: read the registry store directly.

``--url`` defaults to the registry settings, read as the app reads them (environment, ``.env``, the
``plugins.registry`` section of ``--config`` or ``PLUGWORK_CONFIG``): ``PLUGWORK_REGISTRY_URL``, else
``MONGODB_URI`` and ``MONGODB_DATABASE``, else the embedded SQLite file. The URL is never printed back
with its password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

from ..config import load_plugin_settings, load_settings
from .listing import fleet_listing, instance_entry, schema_entry
from .models import Instance
from .settings import RegistrySettings
from .store import RegistryStore, store_from_url

T = TypeVar("T")


def _read(url: str | None, config_file: str | None, read: Callable[[RegistryStore], Awaitable[T]]) -> T:
    database = None
    if url is None:
        # The app's own rules: environment, .env, then the YAML file's plugins.registry section.
        settings = load_plugin_settings(RegistrySettings, "registry", load_settings(config_file))
        assert isinstance(settings, RegistrySettings)
        url, database = settings.store_url, settings.mongodb_database

    async def run() -> T:
        store = store_from_url(url, database=database)
        try:
            await store.open()
            return await read(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


def _ago(epoch: float) -> str:
    seconds = max(0.0, datetime.now(UTC).timestamp() - epoch)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


url_option = click.option("--url", help="Registry store URL [default: the PLUGWORK_REGISTRY_URL setting].")
config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="YAML config file (plugins.registry)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group("registry")
def registry_cli() -> None:
    """Inspect the service registry: live instances and published schemas."""


@registry_cli.command("list")
@url_option
@config_option
@json_option
def list_services(url: str | None, config_file: str | None, as_json: bool) -> None:
    """Every service with live instances, its versions and instance count."""
    instances: list[Instance] = _read(url, config_file, lambda store: store.instances())
    listing = fleet_listing(instances)
    if as_json:
        _echo_json(listing)
        return
    if not instances:
        click.echo("no live instances")
        return
    click.echo(f"{'SERVICE':<32} {'VERSIONS':<24} {'INSTANCES':>9} {'HEALTHY':>8}")
    for name, entry in listing["services"].items():
        healthy = sum(1 for i in entry["instances"] if i["health_status"] != "RED")
        versions = ",".join(entry["versions"])
        click.echo(f"{name:<32} {versions:<24} {len(entry['instances']):>9} {healthy:>8}")


@registry_cli.command("show")
@click.argument("service")
@url_option
@config_option
@json_option
def show_service(service: str, url: str | None, config_file: str | None, as_json: bool) -> None:
    """The live instances of SERVICE: address, transports, health, last heartbeat."""
    instances: list[Instance] = _read(url, config_file, lambda store: store.instances(service))
    if as_json:
        _echo_json([instance_entry(i) for i in instances])
        return
    if not instances:
        raise click.ClickException(f"no live instance of {service!r}")
    for inst in instances:
        entry = instance_entry(inst)
        transports = entry["transports"]
        click.echo(f"{inst.instance_id}  {inst.service_version}  {inst.health_status}")
        click.echo(f"  address    {inst.host}:{inst.port}")
        click.echo(f"  http       {transports['http'] or '-'}")
        click.echo(f"  queues     {', '.join(transports['queues']) or '-'}")
        click.echo(f"  plugboard  {transports['plugboard'] or '-'}")
        click.echo(f"  started    {entry['started_at']}   heartbeat {_ago(inst.last_heartbeat)}")
        if inst.metadata:
            click.echo(f"  metadata   {orjson.dumps(dict(inst.metadata)).decode()}")


@registry_cli.command("schemas")
@click.argument("service")
@click.option("--version", "version", help="Only this service version.")
@url_option
@config_option
@json_option
def show_schemas(
    service: str, version: str | None, url: str | None, config_file: str | None, as_json: bool
) -> None:
    """The action schemas SERVICE published, newest version first."""
    records = _read(url, config_file, lambda store: store.schemas(service, version))
    if as_json:
        _echo_json([schema_entry(r) for r in records])
        return
    if not records:
        raise click.ClickException(f"no published schemas for {service!r}")
    for record in records:
        click.echo(f"{record.key}  published {_ago(record.published_at)}")
        for entry in record.actions:
            required = entry.get("input_schema", {}).get("required") or []
            fields = ", ".join(entry.get("input_schema", {}).get("properties", {}))
            click.echo(
                f"  {entry['name']}({fields})" + (f"  required: {', '.join(required)}" if required else "")
            )
