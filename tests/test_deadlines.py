"""DeadlineWatch: one timer for many invocation deadlines, with asyncio.timeout_at's semantics."""

from __future__ import annotations

import asyncio
import gc

import pytest

from plugwork.deadlines import DeadlineWatch, deadline_watch


async def bounded(watch: DeadlineWatch, delay: float, seconds: float) -> str:
    """Sleep ``delay`` under a deadline ``seconds`` away: "done", "timeout" (or CancelledError)."""
    task = asyncio.current_task()
    assert task is not None
    entry = watch.add(task, asyncio.get_running_loop().time() + seconds)
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        if entry.expired():
            return "timeout"
        raise
    finally:
        watch.discard(entry)
    entry.settle()
    return "done"


async def test_only_the_tasks_past_their_deadline_are_cancelled() -> None:
    watch = DeadlineWatch()
    results = await asyncio.wait_for(
        asyncio.gather(
            bounded(watch, 30, 0.05),
            bounded(watch, 30, 0.1),
            bounded(watch, 0.01, 30),
            bounded(watch, 0.2, 60),
        ),
        10,
    )
    assert results == ["timeout", "timeout", "done", "done"]
    assert len(watch) == 0


async def test_an_earlier_deadline_rearms_the_timer() -> None:
    watch = DeadlineWatch()
    late = asyncio.create_task(bounded(watch, 30, 20))
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(bounded(watch, 30, 0.05), 10) == "timeout"  # not after 20 s
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late


async def test_another_cancellation_still_propagates() -> None:
    watch = DeadlineWatch()
    task = asyncio.create_task(bounded(watch, 30, 30))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(watch) == 0


async def test_nested_deadlines_in_one_task() -> None:
    watch = DeadlineWatch()

    async def outer() -> tuple[str, str]:
        inner = await bounded(watch, 30, 0.05)  # the inner deadline fires first, the outer one keeps going
        return inner, await bounded(watch, 0.01, 30)

    assert await asyncio.wait_for(outer(), 10) == ("timeout", "done")


def test_a_closed_loop_drops_its_watch() -> None:
    import weakref

    loop = asyncio.new_event_loop()
    watches: list[DeadlineWatch] = []

    async def use() -> None:
        watch = deadline_watch(asyncio.get_running_loop())
        assert watch is deadline_watch(asyncio.get_running_loop())
        watches.append(watch)
        await bounded(watch, 0, 300)  # leaves a timer armed five minutes ahead

    loop.run_until_complete(use())
    loop.close()
    loop_ref = weakref.ref(loop)
    watches.clear()
    del loop
    gc.collect()
    assert loop_ref() is None  # the watch did not keep its loop alive
