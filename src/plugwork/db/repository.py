"""``Repository[Model]``: typed async CRUD over one model, as PyModules' ``BaseRepository`` has it.

``Repository(session_factory, User)`` (also :class:`Database` in place of the factory) runs each call in
a session of its own and commits writes. ``repo.using(session)`` runs in the caller's session instead:
writes are flushed, not committed, so they join the caller's transaction (with a transactional
``app.enqueue(..., session=session)`` for instance). Models with
:class:`~plugwork.db.SoftDeleteMixin` have their soft-deleted rows hidden from every query unless
``include_deleted=True``. A row that is not there raises :class:`RecordNotFound` (404 ``NOT_FOUND``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import Conflict, InvalidInput, NotFound
from ..extras import require

require("sqlalchemy", extra="db")  # a missing extra is one clear line naming it, before the imports below

from sqlalchemy import ColumnElement, Select, exists, func, inspect, select  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from .database import Database

M = TypeVar("M")
MAX_LIMIT = 10_000
SessionFactory = Callable[[], "AsyncSession"]


class RecordNotFound(NotFound):
    """The row asked for does not exist (or is soft-deleted): 404 ``NOT_FOUND`` on every transport."""


class Repository(Generic[M]):
    """Async CRUD for ``model`` (see the module docstring)."""

    def __init__(
        self,
        session_factory: SessionFactory | Database,
        model: type[M],
        *,
        session: AsyncSession | None = None,
    ) -> None:
        factory: Any = getattr(session_factory, "session_factory", session_factory)
        self._factory: SessionFactory = factory
        self._session = session
        self.model = model
        mapper = inspect(model)
        if len(mapper.primary_key) != 1:
            raise TypeError(f"{model.__name__}: Repository needs a single-column primary key")
        self._pk = mapper.primary_key[0]
        self._pk_is_uuid = _python_type(self._pk) is uuid.UUID
        self._columns = {attr.key: attr for attr in mapper.column_attrs}
        self.soft_deletes = bool(getattr(model, "__soft_delete__", False))

    def using(self, session: AsyncSession) -> Repository[M]:
        """The same repository working inside ``session`` (flushes, never commits)."""
        return type(self)(self._factory, self.model, session=session)

    @asynccontextmanager
    async def _open(self, write: bool = False) -> AsyncIterator[AsyncSession]:
        try:
            if self._session is not None:
                yield self._session
                if write:
                    await self._session.flush()
                return
            async with self._factory() as session:
                yield session
                if write:
                    await session.commit()
        except IntegrityError as exc:
            # A duplicate key or a broken constraint is the caller's conflict (409), not a server fault;
            # the driver's message (which may quote values) stays in the log.
            raise Conflict(f"{self.model.__name__} violates a constraint of its table") from exc

    # ------------------------------------------------------------------ create
    async def create(self, **values: Any) -> M:
        """Insert one row and return it (database-set columns filled in)."""
        obj = self.model(**values)
        async with self._open(write=True) as session:
            session.add(obj)
        return obj

    async def create_many(self, rows: Iterable[Mapping[str, Any]]) -> list[M]:
        """Insert many rows in one flush (bulk create); all or none."""
        objs = [self.model(**row) for row in rows]
        async with self._open(write=True) as session:
            session.add_all(objs)
        return objs

    bulk_create = create_many

    # ------------------------------------------------------------------ read
    async def get_by_id(self, id: Any, *, include_deleted: bool = False) -> M | None:
        """The row with primary key ``id``, or None."""
        key = self._key(id)
        if key is None:
            return None
        async with self._open() as session:
            obj = await session.get(self.model, key)
        if obj is not None and self.soft_deletes and not include_deleted and obj.is_deleted:  # type: ignore[attr-defined]
            return None
        return obj

    async def get(self, id: Any, *, include_deleted: bool = False) -> M:
        """The row with primary key ``id``; raises :class:`RecordNotFound`."""
        obj = await self.get_by_id(id, include_deleted=include_deleted)
        if obj is None:
            raise self._not_found(id)
        return obj

    async def get_all(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        order_by: str | ColumnElement[Any] | None = None,
        include_deleted: bool = False,
    ) -> list[M]:
        """Rows in ``order_by`` order (a column name, ``-name`` for descending; default: primary key)."""
        return await self.find(limit=limit, offset=offset, order_by=order_by, include_deleted=include_deleted)

    async def find(
        self,
        *,
        limit: int = 100,
        offset: int = 0,
        order_by: str | ColumnElement[Any] | None = None,
        include_deleted: bool = False,
        **filters: Any,
    ) -> list[M]:
        """Rows whose columns equal ``filters``."""
        if not 0 <= limit <= MAX_LIMIT or offset < 0:
            raise InvalidInput(f"limit must be 0 to {MAX_LIMIT} and offset at least 0")
        query = self._select(filters, include_deleted).order_by(self._order(order_by)).limit(limit)
        if offset:
            query = query.offset(offset)
        async with self._open() as session:
            found: list[M] = list((await session.scalars(query)).all())
        return found

    async def find_one(self, *, include_deleted: bool = False, **filters: Any) -> M | None:
        """The first row (by primary key) whose columns equal ``filters``, or None."""
        query = self._select(filters, include_deleted).order_by(self._pk).limit(1)
        async with self._open() as session:
            first: M | None = (await session.scalars(query)).first()
        return first

    async def count(self, *, include_deleted: bool = False, **filters: Any) -> int:
        """How many rows match ``filters``."""
        query = select(func.count()).select_from(self.model).where(*self._where(filters, include_deleted))
        async with self._open() as session:
            return int((await session.execute(query)).scalar_one())

    async def exists(self, *, include_deleted: bool = False, **filters: Any) -> bool:
        """Whether a row matches ``filters`` (``exists(id=...)`` for a key)."""
        query = select(exists().where(*self._where(filters, include_deleted)))
        async with self._open() as session:
            return bool((await session.execute(query)).scalar_one())

    # ------------------------------------------------------------------ write
    async def update(self, id: Any, **values: Any) -> M:
        """Set ``values`` on the row ``id`` and return it; raises :class:`RecordNotFound`."""
        self._check_columns(values)
        async with self._open(write=True) as session:
            obj = await self._load(session, id, include_deleted=False)
            for key, value in values.items():
                setattr(obj, key, value)
        return obj

    async def delete(self, id: Any) -> None:
        """Delete the row ``id`` for good (soft-deleted rows too); raises :class:`RecordNotFound`."""
        async with self._open(write=True) as session:
            await session.delete(await self._load(session, id, include_deleted=True))

    async def soft_delete(self, id: Any) -> M:
        """Mark the row ``id`` deleted (hidden from default queries); raises :class:`RecordNotFound`."""
        return await self._set_deleted(id, True)

    async def restore(self, id: Any) -> M:
        """Bring a soft-deleted row back; raises :class:`RecordNotFound`."""
        return await self._set_deleted(id, False)

    async def _set_deleted(self, id: Any, deleted: bool) -> M:
        if not self.soft_deletes:
            raise TypeError(f"{self.model.__name__} has no SoftDeleteMixin")
        async with self._open(write=True) as session:
            obj: Any = await self._load(session, id, include_deleted=True)
            obj.is_deleted = deleted
            obj.deleted_at = datetime.now(UTC) if deleted else None
        return obj  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ helpers
    async def _load(self, session: AsyncSession, id: Any, *, include_deleted: bool) -> M:
        key = self._key(id)
        obj = None if key is None else await session.get(self.model, key)
        if obj is None or (self.soft_deletes and not include_deleted and obj.is_deleted):  # type: ignore[attr-defined]
            raise self._not_found(id)
        return obj

    def _key(self, id: Any) -> Any:
        # A UUID key given as text (a path parameter, a JSON field) is parsed; text that is no UUID
        # cannot name a row.
        if self._pk_is_uuid and isinstance(id, str):
            try:
                return uuid.UUID(id)
            except ValueError:
                return None
        return id

    def _not_found(self, id: Any) -> RecordNotFound:
        return RecordNotFound(f"{self.model.__name__} {id} not found", details={"id": str(id)})

    def _check_columns(self, values: Mapping[str, Any]) -> None:
        unknown = sorted(set(values) - set(self._columns))
        if unknown:
            raise InvalidInput(
                f"{self.model.__name__} has no column {', '.join(unknown)}",
                details=[{"field": name, "message": "unknown column"} for name in unknown],
            )

    def _where(self, filters: Mapping[str, Any], include_deleted: bool) -> list[ColumnElement[bool]]:
        self._check_columns(filters)
        clauses: list[ColumnElement[bool]] = [
            getattr(self.model, key) == value for key, value in filters.items()
        ]
        if self.soft_deletes and not include_deleted:
            clauses.append(getattr(self.model, "is_deleted").is_(False))  # noqa: B009 - a mixin column
        return clauses

    def _select(self, filters: Mapping[str, Any], include_deleted: bool) -> Select[Any]:
        return select(self.model).where(*self._where(filters, include_deleted))

    def _order(self, order_by: str | ColumnElement[Any] | None) -> Any:
        if order_by is None:
            return self._pk
        if not isinstance(order_by, str):
            return order_by
        name = order_by.lstrip("-+")
        self._check_columns({name: None})
        column = getattr(self.model, name)
        return column.desc() if order_by.startswith("-") else column.asc()


class BaseRepository(Repository[M]):
    """PyModules' name for :class:`Repository`: ``BaseRepository(session_factory, User)``."""


def _python_type(column: Any) -> type | None:
    try:
        return column.type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None
