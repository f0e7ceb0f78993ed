"""The hub store: accounts, services and service tokens behind one SQL-backed base class.

Queries are written once, with PostgreSQL's ``$n`` placeholders; the SQLite store rewrites them to SQLite's
equivalent ``?n``. Every change also emits an event (``service_updated``, ``token_created``, ...) in the same
transaction, so that running hubs push it to their consumers whichever process made it — a hub's admin API,
another hub, or the ``plugwork hub`` CLI. How an event travels is the dialect's business (an outbox table
for SQLite, ``NOTIFY`` for PostgreSQL).

``open_store(url)`` in :mod:`.factory` picks the implementation: ``sqlite:///relative/path``, ``sqlite:////absolute/path``,
``sqlite:///:memory:`` or ``postgresql://...``.
"""

from __future__ import annotations

import abc
import importlib.resources
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from ...errors import NotFound

if TYPE_CHECKING:
    from .backplane import Backplane
    from .core import Hub
from .models import (
    TOKEN_CONTEXT,
    Account,
    Service,
    ServiceToken,
    check_name,
    expiry,
    hash_secret,
    new_id,
    new_secret,
    secret_matches,
    timestamp,
)

DEFAULT_STORE_URL = "sqlite:///.plugwork/hub.db"
DEFAULT_TOKEN_VALIDITY_DAYS = 365.0
ID_CHUNK = 500  # ids per IN (...) list: under SQLite's and PostgreSQL's parameter limits

Row = Mapping[str, Any]
HubEvent = dict[str, Any]


class Executor(Protocol):
    """One connection inside a transaction."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]: ...

    async def execute(self, query: str, *args: Any) -> None: ...


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The versioned schema scripts for ``dialect``, in order: ``[(version, sql), ...]``."""
    folder = importlib.resources.files(__package__).joinpath("sql").joinpath(dialect)
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text())
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


def _account(row: Row) -> Account:
    return Account(row["id"], row["name"], row["inserted_at"], row["updated_at"])


def _service(row: Row) -> Service:
    return Service(row["id"], row["name"], row["inserted_at"], row["updated_at"])


def _token(row: Row) -> ServiceToken:
    return ServiceToken(row["id"], row["service_id"], row["context"], row["inserted_at"], row["expires_at"])


_TOKEN_COLUMNS = "id, service_id, context, inserted_at, expires_at"


class HubStore(abc.ABC):
    """Accounts, services and tokens, with change events. Subclasses supply the connection handling."""

    dialect: str

    def __init__(self, url: str, *, token_validity_days: float = DEFAULT_TOKEN_VALIDITY_DAYS) -> None:
        self.url = url
        self.token_validity_days = token_validity_days

    # -- what a dialect provides ---------------------------------------------------------------------------

    @abc.abstractmethod
    def backplane(self, hub: Hub) -> Backplane:
        """How hubs on this store hear each other (a single hub, or peers through the database)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A connection inside a transaction, committed when the block exits normally."""

    @abc.abstractmethod
    async def emit(self, conn: Executor, event: HubEvent) -> None:
        """Publish ``event`` to every running hub once the transaction commits."""

    async def ping(self) -> None:
        """Raise if the store cannot answer a trivial query."""
        async with self.transaction() as conn:
            await conn.fetch("SELECT 1")

    async def __aenter__(self) -> HubStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """The applied schema version (0 before any migration)."""
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT max(version) AS v FROM plugboard_schema_version")
        return int(rows[0]["v"] or 0)

    async def _migrate(self, conn: Executor, run_script: Callable[[str], Awaitable[Any]]) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS plugboard_schema_version (version INTEGER PRIMARY KEY)"
        )
        rows = await conn.fetch("SELECT max(version) AS v FROM plugboard_schema_version")
        current = int(rows[0]["v"] or 0)
        for version, script in migrations(self.dialect):
            if version > current:
                await run_script(script)
                await conn.execute("INSERT INTO plugboard_schema_version (version) VALUES ($1)", version)

    # -- accounts --------------------------------------------------------------------------------------------

    async def create_account(self, name: str) -> Account:
        """A new producer account; the returned object carries its bearer token, the only time it is shown."""
        now, secret = timestamp(), new_secret()
        account = Account(new_id(), check_name(name), now, now, token=secret)
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO plugboard_accounts (id, name, token_hash, inserted_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                account.id,
                account.name,
                hash_secret(secret),
                now,
                now,
            )
        return account

    async def list_accounts(self) -> list[Account]:
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT * FROM plugboard_accounts ORDER BY inserted_at, id")
        return [_account(row) for row in rows]

    async def delete_account(self, account_id: str) -> Account:
        """Delete an account (NotFound if absent); hubs forget its cached authentication."""
        async with self.transaction() as conn:
            rows = await conn.fetch("DELETE FROM plugboard_accounts WHERE id = $1 RETURNING *", account_id)
            if not rows:
                raise NotFound(f"no account {account_id!r}")
            await self.emit(conn, {"kind": "account_deleted", "account": {"id": account_id}})
        return _account(rows[0])

    async def authenticate_account(self, secret: str) -> Account | None:
        """The account whose bearer token is ``secret``, or None."""
        digest = hash_secret(secret)
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT * FROM plugboard_accounts WHERE token_hash = $1", digest)
        if not rows or not secret_matches(secret, rows[0]["token_hash"]):
            return None
        return _account(rows[0])

    # -- services --------------------------------------------------------------------------------------------

    async def create_service(self, name: str) -> Service:
        now = timestamp()
        service = Service(new_id(), check_name(name), now, now)
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO plugboard_services (id, name, inserted_at, updated_at) VALUES ($1, $2, $3, $4)",
                service.id,
                service.name,
                now,
                now,
            )
        return service

    async def get_service(self, service_id: str) -> Service | None:
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT * FROM plugboard_services WHERE id = $1", service_id)
        return _service(rows[0]) if rows else None

    async def list_services(self) -> list[Service]:
        async with self.transaction() as conn:
            rows = await conn.fetch("SELECT * FROM plugboard_services ORDER BY inserted_at, id")
        return [_service(row) for row in rows]

    async def update_service(self, service_id: str, name: str) -> Service:
        """Rename a service; its consumers are pushed ``service_updated``."""
        name = check_name(name)
        async with self.transaction() as conn:
            rows = await conn.fetch(
                "UPDATE plugboard_services SET name = $2, updated_at = $3 WHERE id = $1 RETURNING *",
                service_id,
                name,
                timestamp(),
            )
            if not rows:
                raise NotFound(f"no service {service_id!r}")
            service = _service(rows[0])
            await self.emit(conn, {"kind": "service_updated", "service": service.to_json()})
        return service

    async def delete_service(self, service_id: str) -> Service:
        """Delete a service and its tokens; its consumers are pushed ``service_deleted``."""
        async with self.transaction() as conn:
            rows = await conn.fetch("DELETE FROM plugboard_services WHERE id = $1 RETURNING *", service_id)
            if not rows:
                raise NotFound(f"no service {service_id!r}")
            service = _service(rows[0])
            await conn.execute("DELETE FROM plugboard_tokens WHERE service_id = $1", service_id)
            await self.emit(conn, {"kind": "service_deleted", "service": service.to_json()})
        return service

    # -- service tokens --------------------------------------------------------------------------------------

    async def create_token(
        self, service_id: str, *, validity_days: float | None = None, context: str = TOKEN_CONTEXT
    ) -> ServiceToken:
        """A new API token for a service; the returned object carries its value, the only time it is shown."""
        days = self.token_validity_days if validity_days is None else validity_days
        if days <= 0:
            raise ValueError("validity_days must be positive")
        now, secret = timestamp(), new_secret()
        token = ServiceToken(new_id(), service_id, check_name(context), now, expiry(now, days), value=secret)
        async with self.transaction() as conn:
            if not await conn.fetch("SELECT id FROM plugboard_services WHERE id = $1", service_id):
                raise NotFound(f"no service {service_id!r}")
            await conn.execute(
                f"INSERT INTO plugboard_tokens ({_TOKEN_COLUMNS}, token_hash)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                token.id,
                service_id,
                token.context,
                now,
                token.expires_at,
                hash_secret(secret),
            )
            await self.emit(conn, {"kind": "token_created", "token": token.to_json()})
        return token

    async def list_tokens(self, service_id: str | None = None) -> list[ServiceToken]:
        async with self.transaction() as conn:
            if service_id is None:
                rows = await conn.fetch(
                    f"SELECT {_TOKEN_COLUMNS} FROM plugboard_tokens ORDER BY inserted_at, id"
                )
            else:
                rows = await conn.fetch(
                    f"SELECT {_TOKEN_COLUMNS} FROM plugboard_tokens WHERE service_id = $1"
                    " ORDER BY inserted_at, id",
                    service_id,
                )
        return [_token(row) for row in rows]

    async def delete_token(self, token_id: str) -> ServiceToken:
        """Delete a token; its service's consumers are pushed ``token_deleted``."""
        async with self.transaction() as conn:
            rows = await conn.fetch(
                f"DELETE FROM plugboard_tokens WHERE id = $1 RETURNING {_TOKEN_COLUMNS}", token_id
            )
            if not rows:
                raise NotFound(f"no token {token_id!r}")
            token = _token(rows[0])
            await self.emit(conn, {"kind": "token_deleted", "token": token.to_json()})
        return token

    async def valid_token_ids(self, token_ids: Iterable[str]) -> set[str]:
        """Which of ``token_ids`` name unexpired tokens (a deleted service's tokens are deleted with it)."""
        now = timestamp()
        return await self._existing(
            "SELECT id FROM plugboard_tokens WHERE expires_at > $1 AND id IN ({ids})", token_ids, now
        )

    async def existing_account_ids(self, account_ids: Iterable[str]) -> set[str]:
        """Which of ``account_ids`` still exist."""
        return await self._existing("SELECT id FROM plugboard_accounts WHERE id IN ({ids})", account_ids)

    async def _existing(self, query: str, ids: Iterable[str], *args: Any) -> set[str]:
        wanted, found = sorted(set(ids)), set[str]()
        async with self.transaction() as conn:
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                first = len(args) + 1
                marks = ", ".join(f"${n}" for n in range(first, first + len(chunk)))
                rows = await conn.fetch(query.format(ids=marks), *args, *chunk)
                found.update(row["id"] for row in rows)
        return found

    async def authenticate_token(self, secret: str) -> ServiceToken | None:
        """The unexpired service token whose value is ``secret``, or None."""
        digest = hash_secret(secret)
        async with self.transaction() as conn:
            rows = await conn.fetch(
                f"SELECT {_TOKEN_COLUMNS}, token_hash FROM plugboard_tokens WHERE token_hash = $1", digest
            )
        if not rows or not secret_matches(secret, rows[0]["token_hash"]):
            return None
        token = _token(rows[0])
        return None if token.expired else token
