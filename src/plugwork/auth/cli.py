"""``plugwork auth token``: mint a token with the service's own settings (development and tests)."""

from __future__ import annotations

import click

from ..errors import PlugworkError


@click.group()
def auth() -> None:
    """Authentication helpers."""


@auth.command()
@click.option("--sub", required=True, help="The subject (user or service id).")
@click.option("--permission", "permissions", multiple=True, help="A permission to grant (repeatable).")
@click.option("--role", "roles", multiple=True, help="A role (repeatable).")
@click.option("--tenant", default=None, help="The tenant claim.")
@click.option("--expires", default="1h", show_default=True, help="Lifetime: 90, 30s, 15m, 12h, 7d.")
def token(
    sub: str, permissions: tuple[str, ...], roles: tuple[str, ...], tenant: str | None, expires: str
) -> None:
    """Print a signed JWT for SUB, with the settings' key, algorithm, issuer and audience.

    The key comes from PLUGWORK_JWT_SECRET (HS*) or PLUGWORK_JWT_PRIVATE_KEY (other algorithms).
    """
    from ..queue.cli import parse_duration
    from .jwt import JWTAuthProvider

    claims: dict[str, object] = {"sub": sub, "permissions": list(permissions)}
    if roles:
        claims["roles"] = list(roles)
    if tenant:
        claims["tenant"] = tenant
    from ..config import load_plugin_settings, load_settings
    from .settings import AuthSettings

    try:
        # As the app loads them: environment, .env, and the PLUGWORK_CONFIG file's plugins.auth section.
        settings = load_plugin_settings(AuthSettings, "auth", load_settings())
        click.echo(JWTAuthProvider(settings).mint(claims, expires_in=parse_duration(expires)))  # type: ignore[arg-type]
    except PlugworkError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # the settings' own validation (a short secret, mixed algorithms...)
        raise click.ClickException(str(exc).splitlines()[0]) from exc
