"""The :class:`Database` service: async and sync engines and sessions built from one set of options.

``async with db.session()`` gives an ``AsyncSession``; ``async with db.transaction()`` one inside a
transaction that commits on success and rolls back on error. Sync actions (which run in a worker thread)
use ``db.sync_session()`` / ``db.sync_transaction()``: the same URL with the sync driver (the stdlib
``sqlite3``, ``psycopg`` for PostgreSQL), the same pool options, made lazily on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..extras import require
from ..observability.health import CheckValue, HealthStatus
from ..observability.logging import get_logger
from ..services import Service
from .settings import DatabaseSettings, safe_url

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session, sessionmaker

log = get_logger("plugwork.db")
PING_TIMEOUT = 5.0
_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}


class Database(Service):
    """SQLAlchemy engines and sessions for the app's own data (see the module docstring).

    Build it from settings (``Database(DatabaseSettings(...))``, or let the ``db`` plugin do it from
    ``PLUGWORK_DATABASE_URL`` and friends) or from a URL: ``Database(url="sqlite+aiosqlite:///app.db")``.
    """

    name = "database"

    def __init__(self, settings: DatabaseSettings | None = None, *, url: str | None = None) -> None:
        if settings is None:
            settings = DatabaseSettings(url=url) if url else DatabaseSettings()
        elif url:
            settings = settings.model_copy(update={"url": url})
        self.settings = settings
        self.url = settings.resolved_url()
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._sync_engine: Engine | None = None
        self._sync_sessions: sessionmaker[Session] | None = None

    # ------------------------------------------------------------------ engines
    def _options(self, url: str, *, sync: bool = False) -> tuple[Any, dict[str, Any]]:
        """The URL object (with the sync driver when ``sync``) and the engine options, shared by both."""
        sa = require("sqlalchemy", extra="db")
        parsed = sa.engine.make_url(url)
        if sync:
            parsed = parsed.set(drivername=_SYNC_DRIVERS.get(parsed.drivername, parsed.drivername))
        options: dict[str, Any] = {"echo": self.settings.echo, "pool_pre_ping": True}
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args["timeout"] = self.settings.pool_timeout_seconds
        else:
            options.update(
                pool_size=self.settings.pool_size,
                max_overflow=self.settings.max_overflow,
                pool_timeout=self.settings.pool_timeout_seconds,
            )
            # ``?search_path=`` (a server setting) is not a driver keyword: pass it as one for each driver.
            search_path = parsed.query.get("search_path")
            if isinstance(search_path, str):
                parsed = parsed.difference_update_query(["search_path"])
                if parsed.drivername.endswith("asyncpg"):
                    connect_args["server_settings"] = {"search_path": search_path}
                else:
                    connect_args["options"] = f"-csearch_path={search_path}"
        options["connect_args"] = connect_args
        return parsed, options

    @property
    def engine(self) -> AsyncEngine:
        """The async engine (made on first use, disposed when the service stops)."""
        if self._engine is None:
            asa = require("sqlalchemy.ext.asyncio", extra="db")
            parsed, options = self._options(self.url)
            self._engine = asa.create_async_engine(parsed, **options)
        return self._engine

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """The ``async_sessionmaker`` (``expire_on_commit=False``) that repositories take."""
        if self._sessions is None:
            asa = require("sqlalchemy.ext.asyncio", extra="db")
            self._sessions = asa.async_sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions

    @property
    def sync_engine(self) -> Engine:
        """A sync engine on the same database, for sync actions and Alembic (sync driver, same options)."""
        if self._sync_engine is None:
            sa = require("sqlalchemy", extra="db")
            parsed, options = self._options(self.url, sync=True)
            if parsed.drivername == "postgresql+psycopg":
                require("psycopg", extra="db")
            self._sync_engine = sa.create_engine(parsed, **options)
        return self._sync_engine

    @property
    def sync_session_factory(self) -> sessionmaker[Session]:
        """The sync ``sessionmaker`` (``expire_on_commit=False``)."""
        if self._sync_sessions is None:
            orm = require("sqlalchemy.orm", extra="db")
            self._sync_sessions = orm.sessionmaker(self.sync_engine, expire_on_commit=False)
        return self._sync_sessions

    # ------------------------------------------------------------------ sessions
    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session, closed at the end; commit yourself (or use :meth:`transaction`)."""
        async with self.session_factory() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block ends, rolled back if it raises."""
        async with self.session_factory() as session, session.begin():
            yield session

    @contextmanager
    def sync_session(self) -> Iterator[Session]:
        """The sync twin of :meth:`session`, for sync actions."""
        with self.sync_session_factory() as session:
            yield session

    @contextmanager
    def sync_transaction(self) -> Iterator[Session]:
        """The sync twin of :meth:`transaction` (Vera's ``database.transaction()``)."""
        with self.sync_session_factory() as session, session.begin():
            yield session

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect once (bounded by a timeout), so that a wrong URL fails the start with a clear reason."""
        sa = require("sqlalchemy", extra="db")
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            await self.stop()
            # The container names the service; the driver's message may quote the URL, so only its type.
            reason = f"cannot connect to {safe_url(self.url)}: {type(exc).__name__}"
            raise ConnectionError(reason) from None
        log.info("database connected", url=safe_url(self.url))

    async def stop(self) -> None:
        """Close every pooled connection, async and sync."""
        if self._engine is not None:
            await self._engine.dispose()
        if self._sync_engine is not None:
            await asyncio.to_thread(self._sync_engine.dispose)
        self._engine = self._sessions = self._sync_engine = self._sync_sessions = None

    async def health_check(self) -> CheckValue:
        """GREEN when ``SELECT 1`` answers within the timeout; details: the pool's connections in use."""
        if self._engine is None:
            return HealthStatus.YELLOW, {"state": self.state.value}
        sa = require("sqlalchemy", extra="db")
        details: dict[str, Any] = {"url": safe_url(self.url), **self._pool_status()}
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                async with self._engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            return HealthStatus.RED, {**details, "error": type(exc).__name__}
        return HealthStatus.GREEN, details

    def _pool_status(self) -> dict[str, Any]:
        pool = self.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        return {"pool_in_use": checked_out()} if callable(checked_out) else {}

    # ------------------------------------------------------------------ schema (Vera's helpers)
    async def migrate(self, revision: str = "head") -> None:
        """Apply the Alembic migrations of ``settings.migrations`` up to ``revision`` (default: head)."""
        from .migrations import MigrationEnvironment

        env = MigrationEnvironment(self.settings.migrations, self.url)
        await asyncio.to_thread(env.upgrade, revision)

    async def create_all(self, metadata: MetaData | None = None) -> None:
        """Create the tables of ``metadata`` (default: :class:`~plugwork.db.Base`'s) that do not exist."""
        from .models import Base

        target = metadata if metadata is not None else Base.metadata
        async with self.engine.begin() as conn:
            await conn.run_sync(target.create_all)

    async def teardown(self, metadata: MetaData | None = None, *, force: bool = False) -> None:
        """Drop the tables of ``metadata`` and Alembic's version table (tests, resets).

        Refused when ``environment`` is ``production`` unless ``force=True``.
        """
        if self.settings.environment.lower() == "production" and not force:
            raise ConfigError("teardown() drops every table: refused in production (force=True to do it)")
        sa = require("sqlalchemy", extra="db")
        from .models import Base

        target = metadata if metadata is not None else Base.metadata
        async with self.engine.begin() as conn:
            await conn.run_sync(target.drop_all)
            await conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
