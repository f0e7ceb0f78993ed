"""The repository contract, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid

import pytest
from db_models import Tag, User

from plugwork.db import BaseRepository, Database, RecordNotFound, Repository
from plugwork.errors import Conflict, ErrorCode, InvalidInput, NotFound


@pytest.fixture
def users(db: Database) -> Repository[User]:
    return Repository(db.session_factory, User)


async def test_create_and_get_by_id(users: Repository[User]) -> None:
    user = await users.create(name="Alice", email="alice@example.com")
    assert isinstance(user.id, uuid.UUID)
    assert user.created_at is not None and user.updated_at is not None
    found = await users.get_by_id(user.id)
    assert found is not None and found.name == "Alice" and found.email == "alice@example.com"
    assert (await users.get_by_id(str(user.id))) is not None  # a UUID given as text
    assert await users.get_by_id(uuid.uuid4()) is None
    assert await users.get_by_id("not-a-uuid") is None


async def test_get_raises_not_found_with_the_404_code(users: Repository[User]) -> None:
    with pytest.raises(RecordNotFound) as info:
        await users.get(uuid.uuid4())
    assert info.value.code is ErrorCode.NOT_FOUND and info.value.status == 404
    assert isinstance(info.value, NotFound)  # the public one: raised from an action, it answers 404


async def test_base_repository_takes_the_seed_arguments(db: Database) -> None:
    repo = BaseRepository(db.session_factory, User)
    user = await repo.create(name="Bob", email="bob@example.com")
    assert (await repo.find_one(name="Bob")) is not None
    assert (await BaseRepository(db, User).get(user.id)).email == "bob@example.com"


async def test_get_all_limit_offset_and_order(users: Repository[User]) -> None:
    await users.create_many(
        [{"name": n, "email": f"{n}@x.org", "age": a} for n, a in (("c", 3), ("a", 1), ("b", 2))]
    )
    assert [u.name for u in await users.get_all(order_by="name")] == ["a", "b", "c"]
    assert [u.name for u in await users.get_all(order_by="-age")] == ["c", "b", "a"]
    assert [u.name for u in await users.get_all(order_by="name", limit=1, offset=1)] == ["b"]
    with pytest.raises(InvalidInput):
        await users.get_all(order_by="nope")
    with pytest.raises(InvalidInput):
        await users.get_all(limit=-1)


async def test_find_count_exists(users: Repository[User]) -> None:
    await users.bulk_create([{"name": "x", "email": f"{i}@x.org", "age": i % 2} for i in range(5)])
    assert len(await users.find(age=1)) == 2
    assert await users.count() == 5
    assert await users.count(age=0) == 3
    assert await users.exists(email="3@x.org")
    assert not await users.exists(email="9@x.org")
    with pytest.raises(InvalidInput):
        await users.find(no_such_column=1)


async def test_update_sets_values_and_updated_at(users: Repository[User]) -> None:
    user = await users.create(name="A", email="a@x.org")
    updated = await users.update(user.id, name="A Smith")
    assert updated.name == "A Smith"
    assert updated.updated_at >= user.updated_at
    assert (await users.get(user.id)).name == "A Smith"
    with pytest.raises(RecordNotFound):
        await users.update(uuid.uuid4(), name="nobody")
    with pytest.raises(InvalidInput):
        await users.update(user.id, nope=1)


async def test_soft_delete_hides_rows_and_restore_brings_them_back(users: Repository[User]) -> None:
    user = await users.create(name="A", email="a@x.org")
    await users.create(name="B", email="b@x.org")
    deleted = await users.soft_delete(user.id)
    assert deleted.is_deleted and deleted.deleted_at is not None
    assert await users.get_by_id(user.id) is None
    assert (await users.get_by_id(user.id, include_deleted=True)) is not None
    assert [u.name for u in await users.get_all()] == ["B"]
    assert await users.count() == 1 and await users.count(include_deleted=True) == 2
    assert await users.find_one(name="A") is None
    assert not await users.exists(name="A")
    with pytest.raises(RecordNotFound):
        await users.update(user.id, name="ghost")
    restored = await users.restore(user.id)
    assert not restored.is_deleted and restored.deleted_at is None
    assert (await users.get(user.id)).name == "A"


async def test_model_methods_soft_delete_and_restore(db: Database, users: Repository[User]) -> None:
    user = await users.create(name="A", email="a@x.org")
    async with db.transaction() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.soft_delete()
    assert await users.get_by_id(user.id) is None
    async with db.transaction() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.restore()
    assert await users.get_by_id(user.id) is not None


async def test_delete_is_for_good(users: Repository[User]) -> None:
    user = await users.create(name="A", email="a@x.org")
    await users.delete(user.id)
    assert await users.get_by_id(user.id, include_deleted=True) is None
    with pytest.raises(RecordNotFound):
        await users.delete(user.id)


async def test_soft_delete_needs_the_mixin(db: Database) -> None:
    tags = Repository(db, Tag)
    tag = await tags.create(label="t")
    assert isinstance(tag.id, int)
    with pytest.raises(TypeError):
        await tags.soft_delete(tag.id)


async def test_using_a_session_joins_its_transaction(db: Database, users: Repository[User]) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await users.using(session).create(name="A", email="a@x.org")
            assert await users.using(session).count() == 1
            raise RuntimeError("roll back")
    assert await users.count() == 0
    async with db.transaction() as session:
        await users.using(session).create(name="A", email="a@x.org")
    assert await users.count() == 1


async def test_bulk_create_is_all_or_none(users: Repository[User]) -> None:
    with pytest.raises(Conflict):
        await users.create_many([{"name": "a", "email": "same@x.org"}, {"name": "b", "email": "same@x.org"}])
    assert await users.count() == 0


async def test_a_duplicate_is_a_conflict(users: Repository[User]) -> None:
    await users.create(name="a", email="same@x.org")
    with pytest.raises(Conflict) as info:
        await users.create(name="b", email="same@x.org")
    assert info.value.status == 409 and "same@x.org" not in info.value.message
