"""The ``plugwork`` command: run, worker, actions, call, schema — plus jobs, db and hub groups."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import click
import orjson

from . import discovery
from .errors import DefinitionError, PlugworkError

if TYPE_CHECKING:
    from .app import App

APP_HELP = "The app to load, as MODULE:ATTRIBUTE (e.g. myservice.main:app); ATTRIBUTE defaults to `app`."


def load_app(spec: str) -> App:
    """Load ``MODULE:ATTRIBUTE`` (see :func:`plugwork.discovery.load_app`), as a CLI argument."""
    try:
        return discovery.load_app(spec)
    except DefinitionError as exc:
        raise click.BadParameter(str(exc), param_hint="APP") from None


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


class _Group(click.Group):
    """Turns Plugwork's own errors (bad config, bad app definition...) into a clean message and exit 1.

    The plugins' commands are mounted on first need (a name that is not a built-in command, a listing):
    ``plugwork run`` imports no plugin's CLI module, nor the entry-point plugins (auth, db...).
    """

    _plugins_mounted = False

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlugworkError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_mounted:
            self._mount_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._mount_plugin_commands()
        return super().list_commands(ctx)

    def _mount_plugin_commands(self) -> None:
        # Each feature's commands live beside its code; the CLI mounts what the plugins contribute.
        if self._plugins_mounted:
            return
        self._plugins_mounted = True
        from .plugins import cli_plugins

        for plugin in cli_plugins():
            for command in plugin.cli():
                if command.name not in self.commands:
                    self.add_command(command)


@click.group(cls=_Group)
@click.version_option(package_name="plugwork")
def main() -> None:
    """Plugwork: typed actions served over HTTP, a durable job queue and Plugboard WebSocket RPC."""


config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML config file (supports ${VAR:-default}).",
)


@main.command(epilog=APP_HELP)
@click.argument("app_spec", metavar="APP")
@click.option("--host", help="Bind address [settings: http_host, default 127.0.0.1].")
@click.option("--port", type=int, help="Port [settings: http_port, default 8000].")
@config_option
@click.option("--log-json/--log-console", default=None, help="JSON log lines or human console output.")
@click.option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
@click.option("--dev", is_flag=True, default=None, help="Dev mode: in-memory queue and POST /dev/job.")
def run(
    app_spec: str,
    host: str | None,
    port: int | None,
    config_file: str | None,
    log_json: bool | None,
    log_level: str | None,
    dev: bool | None,
) -> None:
    """Serve APP over HTTP (and run its queue worker and Plugboard consumer when configured).

    APP may also be an ASGI app wrapping a Plugwork App (middleware keeping it as ``.app``).

    Stops gracefully on SIGTERM or SIGINT: in-flight requests and jobs finish first.
    """
    try:
        target = discovery.load_object(app_spec)
    except DefinitionError as exc:
        raise click.BadParameter(str(exc), param_hint="APP") from None
    app = load_app(app_spec)
    # --host/--port go into the settings, so that what the app reports (the registry) is what it serves.
    app.configure(
        config_file, http_host=host, http_port=port, log_json=log_json, log_level=log_level, dev_mode=dev
    )
    app.preflight()
    from .server import serve

    # An ASGI app wrapping the App (middleware of the user's) is served as it is; its lifespan reaches ours.
    serve(app, asgi=None if target is app else target)


@main.command(epilog=APP_HELP)
@click.argument("app_spec", metavar="APP")
@config_option
@click.option("--concurrency", type=int, help="Jobs run at once [MAX_CONCURRENT_JOBS].")
@click.option("--queue", "queues", multiple=True, help="Queue to consume (repeatable) [default: default].")
@click.option("--log-json/--log-console", default=None)
def worker(
    app_spec: str,
    config_file: str | None,
    concurrency: int | None,
    queues: tuple[str, ...],
    log_json: bool | None,
) -> None:
    """Run APP's job worker without HTTP, until SIGTERM/SIGINT (graceful shutdown)."""
    from .observability.logging import configure_logging

    app = load_app(app_spec)
    app.configure(
        config_file,
        max_concurrent_jobs=concurrency,
        queues=list(queues) or None,
        log_json=log_json,
        worker=True,
    )
    configure_logging(json=app.settings.log_json, level=app.settings.log_level)
    app.preflight()
    asyncio.run(app.run_until_stopped())


@main.command(epilog=APP_HELP)
@click.argument("app_spec", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def actions(app_spec: str, as_json: bool) -> None:
    """List APP's actions."""
    app = load_app(app_spec)
    specs = sorted(app.actions.values(), key=lambda s: s.name)
    if as_json:
        click.echo(
            _json([{"name": s.name, "description": s.description, "version": s.version} for s in specs])
        )
        return
    width = max((len(s.name) for s in specs), default=4)
    for spec in specs:
        first_line = spec.description.splitlines()[0] if spec.description else ""
        click.echo(f"{spec.name:<{width}}  v{spec.version:<4} {first_line}")


@main.command(epilog=APP_HELP)
@click.argument("app_spec", metavar="APP")
def schema(app_spec: str) -> None:
    """Print APP's action catalog: names, descriptions and input/output JSON Schemas."""
    click.echo(_json(load_app(app_spec).catalog()))


@main.command(epilog=APP_HELP)
@click.argument("app_spec", metavar="APP")
@click.argument("action")
@click.argument("payload", default="{}")
@config_option
def call(app_spec: str, action: str, payload: str, config_file: str | None) -> None:
    """Run ACTION of APP once, in-process, with the JSON PAYLOAD; print the outcome.

    Exits 1 when the outcome is an error.
    """
    app = load_app(app_spec)
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="PAYLOAD") from None
    if not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="PAYLOAD")
    # The app as configured (its queue too, so that an action may enqueue), but no worker running other
    # jobs and no Plugboard connection for a one-off call.
    app.configure(config_file, worker=False, plugboard_url="")
    from .observability.logging import configure_logging

    # Log lines go to stderr, so that stdout carries only the outcome (scripts parse it).
    configure_logging(json=app.settings.log_json, level=app.settings.log_level)

    async def invoke() -> Any:
        async with app:
            return await app.invoke(action, data)

    outcome = asyncio.run(invoke())
    if outcome.error is None:
        click.echo(_json({"status": outcome.status, "output": outcome.jsonable_output()}))
        return
    click.echo(_json({"status": outcome.status, **outcome.error.to_dict()}))
    sys.exit(1)
