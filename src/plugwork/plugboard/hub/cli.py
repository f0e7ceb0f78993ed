"""``plugwork hub``: run a hub, and manage its accounts, services and service tokens.

::

    plugwork hub [--host H] [--port P] [--store URL] [--admin-token T]      run the server
    plugwork hub account create NAME | list | delete ID                      producer accounts
    plugwork hub service create NAME | list | update ID NAME | delete ID     services
    plugwork hub token create SERVICE_ID [--days N] | list [--service ID] | delete ID

Every management command takes ``--store URL`` (default ``$PLUGWORK_HUB_STORE`` or
``sqlite:///.plugwork/hub.db``) and ``--json``. An account's token and a service token's value are printed
once, at creation. Changes reach a running hub on the same store, which pushes them to its consumers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from ...errors import NotFound, PlugworkError
from ...http.limits import HttpLimits
from .core import HubSettings
from .factory import open_store
from .server import WS_IMPLEMENTATIONS
from .store import DEFAULT_STORE_URL, HubStore

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_store_option = click.option(
    "--store",
    "store_url",
    envvar="PLUGWORK_HUB_STORE",
    default=DEFAULT_STORE_URL,
    show_default=True,
    help="Hub store URL: sqlite:///path or postgresql://...",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_LIMITS = HttpLimits()
# The HTTP connection limits (plugwork.http.limits): HubSettings fields of the same names.
_limit_options = [
    click.option(
        "--max-header-bytes",
        type=click.IntRange(min=1),
        default=_LIMITS.max_header_bytes,
        show_default=True,
        envvar="PLUGWORK_HUB_MAX_HEADER_BYTES",
        help="Largest request line and headers; 431 past it.",
    ),
    click.option(
        "--header-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=_LIMITS.header_timeout,
        show_default=True,
        envvar="PLUGWORK_HUB_HEADER_TIMEOUT",
        help="Seconds for a request's headers (and a WebSocket handshake); 408 past it.",
    ),
    click.option(
        "--body-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=_LIMITS.body_timeout,
        show_default=True,
        envvar="PLUGWORK_HUB_BODY_TIMEOUT",
        help="Seconds for a request body after its headers; 408 past it.",
    ),
    click.option(
        "--keep-alive-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=_LIMITS.keep_alive_timeout,
        show_default=True,
        envvar="PLUGWORK_HUB_KEEP_ALIVE_TIMEOUT",
        help="Close an HTTP connection idle this long (from its opening too).",
    ),
    click.option(
        "--linger-bytes",
        type=click.IntRange(min=0),
        default=_LIMITS.linger_bytes,
        show_default=True,
        envvar="PLUGWORK_HUB_LINGER_BYTES",
        help="Bytes of a refused body drained before closing, so the client reads the answer.",
    ),
    click.option(
        "--linger-timeout",
        type=click.FloatRange(min=0),
        default=_LIMITS.linger_timeout,
        show_default=True,
        envvar="PLUGWORK_HUB_LINGER_TIMEOUT",
        help="Seconds spent draining a refused body before closing.",
    ),
    click.option(
        "--send-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=_LIMITS.send_timeout,
        show_default=True,
        envvar="PLUGWORK_HUB_SEND_TIMEOUT",
        help="Drop a client that reads nothing of its answer this long.",
    ),
]


def _with_limit_options(command: F) -> F:
    for option in reversed(_limit_options):
        command = option(command)
    return command


def _run(store_url: str, work: Callable[[HubStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_store(store_url) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    except (PlugworkError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _emit(data: Any, as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
    elif isinstance(data, list):
        for item in data:
            click.echo(line(item))
    else:
        click.echo(line(data))


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, envvar="PLUGWORK_HUB_HOST")
@click.option("--port", default=4000, show_default=True, type=int, envvar="PLUGWORK_HUB_PORT")
@_store_option
@click.option("--admin-token", envvar="PLUGWORK_HUB_ADMIN_TOKEN", help="Bearer token of the admin HTTP API.")
@click.option("--request-timeout", default=30.0, show_default=True, type=float, help="Seconds per request.")
@click.option("--idle-timeout", default=60.0, show_default=True, type=float, help="Drop silent sockets.")
@click.option("--max-outstanding", default=10, show_default=True, type=int, help="Requests per consumer.")
@click.option("--max-queued", default=1000, show_default=True, type=int, help="Waiting requests per service.")
@click.option("--token-validity-days", default=365.0, show_default=True, type=float)
@click.option("--heartbeat-interval", default=5.0, show_default=True, type=float, help="Scale-out heartbeat.")
@click.option("--dead-after", default=15.0, show_default=True, type=float, help="Reap hubs silent this long.")
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--ws",
    "ws_impl",
    type=click.Choice(WS_IMPLEMENTATIONS),
    default=WS_IMPLEMENTATIONS[0],
    show_default=True,
    help="uvicorn's WebSocket implementation for the consumer sockets.",
)
@_with_limit_options
@click.pass_context
def hub(
    ctx: click.Context,
    host: str,
    port: int,
    store_url: str,
    admin_token: str | None,
    request_timeout: float,
    idle_timeout: float,
    max_outstanding: int,
    max_queued: int,
    token_validity_days: float,
    heartbeat_interval: float,
    dead_after: float,
    log_level: str,
    ws_impl: str,
    max_header_bytes: int,
    header_timeout: float,
    body_timeout: float,
    keep_alive_timeout: float,
    linger_bytes: int,
    linger_timeout: float,
    send_timeout: float,
) -> None:
    """Run a Plugboard hub, or manage its accounts, services and tokens."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ...server import run_server
    from .server import create_app, uvicorn_options

    settings = HubSettings(
        store_url=store_url,
        admin_token=admin_token,
        request_timeout=request_timeout,
        idle_timeout=idle_timeout,
        max_outstanding=max_outstanding,
        max_queued=max_queued,
        token_validity_days=token_validity_days,
        heartbeat_interval=heartbeat_interval,
        dead_after=dead_after,
        max_header_bytes=max_header_bytes,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        keep_alive_timeout=keep_alive_timeout,
        linger_bytes=linger_bytes,
        linger_timeout=linger_timeout,
        send_timeout=send_timeout,
    )
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        **uvicorn_options(settings, ws_impl),
    )
    run_server(config)


@hub.group()
def account() -> None:
    """Producer accounts (their bearer tokens call POST /)."""


@account.command("create")
@click.argument("name")
@_store_option
@_json_option
def account_create(name: str, store_url: str, as_json: bool) -> None:
    """Create an account; its token is printed once."""
    created = _run(store_url, lambda s: s.create_account(name))
    _emit(created.to_json(), as_json, lambda a: f"{a['id']}  {a['name']}  token={a['token']}")


@account.command("list")
@_store_option
@_json_option
def account_list(store_url: str, as_json: bool) -> None:
    """List accounts."""
    accounts = _run(store_url, lambda s: s.list_accounts())
    _emit([a.to_json() for a in accounts], as_json, lambda a: f"{a['id']}  {a['name']}  {a['inserted_at']}")


@account.command("delete")
@click.argument("account_id")
@_store_option
@_json_option
def account_delete(account_id: str, store_url: str, as_json: bool) -> None:
    """Delete an account."""
    deleted = _run(store_url, lambda s: s.delete_account(account_id))
    _emit(deleted.to_json(), as_json, lambda a: f"deleted account {a['id']}  {a['name']}")


@hub.group()
def service() -> None:
    """Services (their consumers answer producers' requests)."""


@service.command("create")
@click.argument("name")
@_store_option
@_json_option
def service_create(name: str, store_url: str, as_json: bool) -> None:
    """Create a service."""
    created = _run(store_url, lambda s: s.create_service(name))
    _emit(created.to_json(), as_json, lambda x: f"{x['id']}  {x['name']}")


@service.command("list")
@_store_option
@_json_option
def service_list(store_url: str, as_json: bool) -> None:
    """List services."""
    services = _run(store_url, lambda s: s.list_services())
    _emit([x.to_json() for x in services], as_json, lambda x: f"{x['id']}  {x['name']}  {x['updated_at']}")


@service.command("update")
@click.argument("service_id")
@click.argument("name")
@_store_option
@_json_option
def service_update(service_id: str, name: str, store_url: str, as_json: bool) -> None:
    """Rename a service (its consumers are pushed service_updated)."""
    updated = _run(store_url, lambda s: s.update_service(service_id, name))
    _emit(updated.to_json(), as_json, lambda x: f"{x['id']}  {x['name']}")


@service.command("delete")
@click.argument("service_id")
@_store_option
@_json_option
def service_delete(service_id: str, store_url: str, as_json: bool) -> None:
    """Delete a service and its tokens (its consumers are pushed service_deleted)."""
    deleted = _run(store_url, lambda s: s.delete_service(service_id))
    _emit(deleted.to_json(), as_json, lambda x: f"deleted service {x['id']}  {x['name']}")


@hub.group()
def token() -> None:
    """Service API tokens (consumers connect with them)."""


@token.command("create")
@click.argument("service_id")
@click.option("--days", type=float, default=None, help="Validity in days (default: the store's, 365).")
@_store_option
@_json_option
def token_create(service_id: str, days: float | None, store_url: str, as_json: bool) -> None:
    """Create a token for a service; its value is printed once."""
    created = _run(store_url, lambda s: s.create_token(service_id, validity_days=days))
    _emit(created.to_json(), as_json, lambda t: f"{t['id']}  expires {t['expires_at']}  value={t['value']}")


@token.command("list")
@click.option("--service", "service_id", default=None, help="Only this service's tokens.")
@_store_option
@_json_option
def token_list(service_id: str | None, store_url: str, as_json: bool) -> None:
    """List tokens (never their values)."""
    tokens = _run(store_url, lambda s: s.list_tokens(service_id))
    _emit(
        [t.to_json() for t in tokens],
        as_json,
        lambda t: f"{t['id']}  service {t['service_id']}  expires {t['expires_at']}",
    )


@token.command("delete")
@click.argument("token_id")
@_store_option
@_json_option
def token_delete(token_id: str, store_url: str, as_json: bool) -> None:
    """Delete a token (its service's consumers are pushed token_deleted)."""
    deleted = _run(store_url, lambda s: s.delete_token(token_id))
    _emit(deleted.to_json(with_value=False), as_json, lambda t: f"deleted token {t['id']}")


if __name__ == "__main__":  # pragma: no cover - ``python -m plugwork.plugboard.hub.cli``
    hub()
