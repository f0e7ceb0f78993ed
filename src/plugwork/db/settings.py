"""The database settings: ``PLUGWORK_DATABASE_*``, PyModules' ``PYMODULES_DB_*`` and Vera's ``POSTGRES_*``.

The URL is chosen in this order: ``url`` (``PLUGWORK_DATABASE_URL``, then ``PYMODULES_DB_URL``); else, when
``POSTGRES_HOST`` is set, Vera's environment-selected PostgreSQL database (``ENVIRONMENT`` =
development/test/production picks ``POSTGRES_DB_<ENV>``); else the SQLite file ``.plugwork/app.db``, so the
embedded default needs no server.
"""

from __future__ import annotations

from urllib.parse import quote

from pydantic import AliasChoices, Field, SecretStr

from ..config import PluginSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.plugwork/app.db"
_ENVIRONMENTS = ("development", "test", "production")


def _names(field: str, *env_names: str) -> AliasChoices:
    # Environment names only, in precedence order (the YAML key and keyword overrides use the field name).
    del field
    return AliasChoices(*env_names)


class DatabaseSettings(PluginSettings):
    """Settings of the :class:`~plugwork.db.Database` service (YAML section ``plugins.db:``)."""

    url: SecretStr | None = Field(
        None, validation_alias=_names("url", "PLUGWORK_DATABASE_URL", "PYMODULES_DB_URL")
    )
    pool_size: int = Field(
        5,
        ge=1,
        le=1000,
        validation_alias=_names("pool_size", "PLUGWORK_DATABASE_POOL_SIZE", "PYMODULES_DB_POOL_SIZE"),
    )
    max_overflow: int = Field(
        10,
        ge=0,
        le=1000,
        validation_alias=_names(
            "max_overflow", "PLUGWORK_DATABASE_MAX_OVERFLOW", "PYMODULES_DB_MAX_OVERFLOW"
        ),
    )
    pool_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_names("pool_timeout_seconds", "PLUGWORK_DATABASE_POOL_TIMEOUT_SECONDS")
    )
    echo: bool = Field(False, validation_alias=_names("echo", "PLUGWORK_DATABASE_ECHO", "PYMODULES_DB_ECHO"))
    migrations: str = Field(
        "migrations", validation_alias=_names("migrations", "PLUGWORK_DATABASE_MIGRATIONS")
    )
    """The Alembic environment directory that ``plugwork db init`` writes and ``db.migrate()`` runs."""

    environment: str = Field(
        "test", validation_alias=_names("environment", "PLUGWORK_DATABASE_ENVIRONMENT", "ENVIRONMENT")
    )
    postgres_host: str | None = Field(None, validation_alias=_names("postgres_host", "POSTGRES_HOST"))
    postgres_port: int = Field(
        5432, ge=1, le=65535, validation_alias=_names("postgres_port", "POSTGRES_PORT")
    )
    postgres_user: str | None = Field(None, validation_alias=_names("postgres_user", "POSTGRES_USER"))
    postgres_password: SecretStr | None = Field(
        None, validation_alias=_names("postgres_password", "POSTGRES_PASSWORD")
    )
    postgres_db_development: str | None = Field(
        None, validation_alias=_names("postgres_db_development", "POSTGRES_DB_DEVELOPMENT")
    )
    postgres_db_test: str | None = Field(
        None, validation_alias=_names("postgres_db_test", "POSTGRES_DB_TEST")
    )
    postgres_db_production: str | None = Field(
        None, validation_alias=_names("postgres_db_production", "POSTGRES_DB_PRODUCTION")
    )

    def resolved_url(self) -> str:
        """The SQLAlchemy URL to connect to (see the module docstring for the order)."""
        if self.url is not None and self.url.get_secret_value():
            return normalize_url(self.url.get_secret_value())
        if self.postgres_host:
            return self._vera_url()
        return DEFAULT_DATABASE_URL

    def _vera_url(self) -> str:
        env = self.environment.lower()
        if env not in _ENVIRONMENTS:
            from ..errors import ConfigError

            raise ConfigError(f"must be one of {', '.join(_ENVIRONMENTS)}, not {env!r}", key="ENVIRONMENT")
        name = getattr(self, f"postgres_db_{env}")
        if not name:
            from ..errors import ConfigError

            raise ConfigError(f"is required when ENVIRONMENT={env}", key=f"POSTGRES_DB_{env.upper()}")
        user = quote(self.postgres_user or "", safe="")
        password = quote(self.postgres_password.get_secret_value(), safe="") if self.postgres_password else ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        return f"postgresql+asyncpg://{auth}{self.postgres_host}:{self.postgres_port}/{quote(name, safe='')}"


def normalize_url(url: str) -> str:
    """Give plain ``postgresql://``/``sqlite://`` URLs the async driver (asyncpg, aiosqlite)."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and health details."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"
