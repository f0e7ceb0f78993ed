"""The dashboard's store queries (page, run_now, queue_counts), run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from plugwork.queue.browse import MAX_PAGE, JobQuery
from plugwork.queue.jobs import Finish, JobStatus, NewJob, encode_json
from plugwork.queue.sqlite import SQLiteJobStore
from plugwork.queue.store import JobStore


def new(action: str = "greet", **kw: object) -> NewJob:
    return NewJob(action=action, payload=kw.pop("payload", '{"name": "x"}'), **kw)  # type: ignore[arg-type]


async def _dead(store: JobStore, action: str, message: str) -> str:
    [jid] = await store.enqueue([new(action, max_attempts=1, queue="graveyard")])
    [claimed] = await store.claim("w1", ["graveyard"], 1, 30)
    assert claimed.id == jid
    error = encode_json({"error_code": "INTERNAL", "error_message": message, "details": None})
    assert await store.finish("w1", [Finish(jid, JobStatus.DEAD, error=error)]) == 1
    return jid


async def test_page_is_newest_first_and_keyset_paged(store: JobStore) -> None:
    ids = await store.enqueue([new(payload=encode_json({"n": i})) for i in range(7)])
    first = await store.page(JobQuery(limit=3))
    assert [j.id for j in first] == ids[::-1][:3]
    second = await store.page(JobQuery(limit=3, before=first[-1].id))
    assert [j.id for j in second] == ids[::-1][3:6]
    last = await store.page(JobQuery(limit=3, before=second[-1].id))
    assert [j.id for j in last] == [ids[0]]
    assert await store.page(JobQuery(before=ids[0])) == []
    assert await store.page(JobQuery(before="not-an-id")) == []


async def test_page_filters_by_status_action_queue(store: JobStore) -> None:
    a = (await store.enqueue([new("a", queue="q1")]))[0]
    b = (await store.enqueue([new("b", queue="q2")]))[0]
    dead = await _dead(store, "c", "boom")
    assert [j.id for j in await store.page(JobQuery(action="a"))] == [a]
    assert [j.id for j in await store.page(JobQuery(queue="q2"))] == [b]
    assert [j.id for j in await store.page(JobQuery(status=JobStatus.DEAD))] == [dead]
    assert [j.id for j in await store.page(JobQuery(status=JobStatus.READY, queue="q1"))] == [a]
    assert await store.page(JobQuery(status=JobStatus.READY, action="c")) == []


async def test_page_text_matches_payload_error_and_ids(store: JobStore) -> None:
    match = (
        await store.enqueue([new(payload=encode_json({"name": "Ada Lovelace"}), correlation_id="corr-9")])
    )[0]
    other = (await store.enqueue([new(payload=encode_json({"name": "Grace"}))]))[0]
    dead = await _dead(store, "fail", "Disk 100% full_now")
    assert [j.id for j in await store.page(JobQuery(text="lovelace"))] == [match]
    assert [j.id for j in await store.page(JobQuery(text="corr-9"))] == [match]
    assert [j.id for j in await store.page(JobQuery(text=other))] == [other]
    assert [j.id for j in await store.page(JobQuery(text="100% full_"))] == [dead]
    # LIKE wildcards in the text are literal characters, not patterns.
    assert await store.page(JobQuery(text="100_ full")) == []
    assert [j.id for j in await store.page(JobQuery(text="%"))] == [dead]  # only the error has a "%"


async def test_page_text_folds_case(store: JobStore) -> None:
    ascii_name = (await store.enqueue([new(payload=encode_json({"name": "Ada Lovelace"}))]))[0]
    accented = (await store.enqueue([new(payload=encode_json({"name": "Zoë Ünal"}))]))[0]
    await store.enqueue([new(payload=encode_json({"name": "Grace"}))])
    assert [j.id for j in await store.page(JobQuery(text="ADA love"))] == [ascii_name]
    # Not ASCII: the pattern goes another way on PostgreSQL (lower() in the database's collation).
    assert [j.id for j in await store.page(JobQuery(text="zoë"))] == [accented]
    assert [j.id for j in await store.page(JobQuery(text="ZOë Ü"))] == [accented]
    # SQLite's LIKE folds ASCII letters only (documented); memory and PostgreSQL fold every letter.
    folded = await store.page(JobQuery(text="ë ü"))
    assert [j.id for j in folded] == ([] if isinstance(store, SQLiteJobStore) else [accented])


async def test_page_text_wildcards_are_literal_in_a_text_that_is_not_ascii(store: JobStore) -> None:
    dead = await _dead(store, "fail", "Déjà 100% plein_now")
    await store.enqueue([new(payload=encode_json({"note": "Déjà 100 plein"}))])
    assert [j.id for j in await store.page(JobQuery(text="déjà 100% plein_"))] == [dead]
    assert await store.page(JobQuery(text="déjà 100_ plein")) == []


async def test_page_text_keeps_its_answer_past_the_prepared_statement_plan_switch(store: JobStore) -> None:
    """PostgreSQL plans a prepared statement generically after five runs; the answers must not change."""
    ids = await store.enqueue([new(payload=encode_json({"name": f"user-{i}"})) for i in range(12)])
    for i in range(12):
        assert [j.id for j in await store.page(JobQuery(text=f'USER-{i}"'))] == [ids[i]]


def test_query_bounds() -> None:
    with pytest.raises(ValueError):
        JobQuery(limit=0)
    with pytest.raises(ValueError):
        JobQuery(limit=MAX_PAGE + 1)
    with pytest.raises(ValueError):
        JobQuery(text="x" * 201)
    with pytest.raises(ValueError):
        JobQuery(queue="q" * 201)


async def test_run_now_makes_a_scheduled_job_claimable(store: JobStore) -> None:
    [later] = await store.enqueue([new(run_at=time.time() + 3600, max_attempts=5)])
    assert await store.claim("w1", None, 10, 30) == []
    job = await store.run_now(later)
    assert job is not None and job.status is JobStatus.READY
    [claimed] = await store.claim("w1", None, 10, 30)
    assert claimed.id == later
    # A running or finished job is left as it is; an unknown one is None.
    job = await store.run_now(later)
    assert job is not None and job.status is JobStatus.ASSIGNED
    assert await store.run_now("999999999") is None
    assert await store.run_now("nope") is None


async def test_queue_counts(store: JobStore) -> None:
    await store.enqueue([new(queue="q1"), new(queue="q1"), new(queue="q2")])
    await _dead(store, "x", "boom")
    counts = await store.queue_counts()
    assert counts["q1"] == {JobStatus.READY: 2}
    assert counts["q2"] == {JobStatus.READY: 1}
    assert counts["graveyard"] == {JobStatus.DEAD: 1}
