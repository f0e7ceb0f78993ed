"""The dispatcher: one error taxonomy, no exception escapes, middleware order, timeouts, rate limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from core_helpers import OFFLINE, LogCapture
from plugwork import (
    ActionError,
    App,
    CircuitOpen,
    Context,
    Dispatcher,
    ErrorCode,
    Forbidden,
    InvalidInput,
    Invocation,
    InvocationCancelled,
    InvocationTimeout,
    Outcome,
    RateLimited,
    Settings,
    Unauthorized,
    Unavailable,
    UnknownAction,
    action,
    get_context,
    get_logger,
)
from plugwork.actions import bind, spec_from_function
from plugwork.context import current_context
from plugwork.dispatch import CallNext
from plugwork.testing import TestClient

log = get_logger("tests.dispatch")
BOUND = 10.0  # if a timeout under test fails to fire, fail fast instead of hanging


class Item(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


class Nested(BaseModel):
    item: Item


@action
async def add(input: Item) -> dict[str, Any]:
    return {"name": input.name, "qty": input.qty}


@action
async def nested(input: Nested) -> dict[str, Any]:
    return input.model_dump()


@action
async def crash(input: Item) -> dict[str, Any]:
    raise RuntimeError("secret database password in the message")


ERRORS: dict[str, ActionError] = {
    "unknown": UnknownAction("nope"),
    "invalid": InvalidInput("bad", details=[{"field": "x"}]),
    "unauthorized": Unauthorized("who are you"),
    "forbidden": Forbidden("not you"),
    "rate_limited": RateLimited("slow down"),
    "circuit_open": CircuitOpen("open"),
    "unavailable": Unavailable("down"),
    "timeout": InvocationTimeout("too slow"),
    "cancelled": InvocationCancelled("gone"),
    "custom": ActionError("teapot", code=ErrorCode.CONFLICT, status=418, details={"k": 1}),
}


class Kind(BaseModel):
    kind: str


@action
async def raises(input: Kind) -> dict[str, Any]:
    raise ERRORS[input.kind]


def dispatcher(*fns: Any, middleware: list[Any] | None = None) -> Dispatcher:
    specs = {spec.name: spec for spec in (spec_from_function(fn) for fn in fns)}

    def resolve(hint: Any) -> Any:
        raise AssertionError(f"nothing to inject for {hint}")

    terminals = {name: bind(spec, resolve) for name, spec in specs.items()}
    return Dispatcher.build(specs, terminals, middleware or [])


async def test_success_outcome() -> None:
    outcome = await dispatcher(add).dispatch(Invocation("add", b'{"name": "pen", "qty": 2}'))
    assert outcome.ok and outcome.status == 200 and outcome.code == "OK"
    assert outcome.output == {"name": "pen", "qty": 2}
    assert outcome.output_json() == b'{"name":"pen","qty":2}'


async def test_mapping_payload_is_validated_too() -> None:
    outcome = await dispatcher(add).dispatch(Invocation("add", {"name": "pen", "qty": "3"}))
    assert outcome.output == {"name": "pen", "qty": 3}


async def test_unknown_action() -> None:
    outcome = await dispatcher(add).dispatch(Invocation("nope", b"{}"))
    assert outcome.error is not None
    assert outcome.error.code is ErrorCode.UNKNOWN_ACTION and outcome.status == 404
    assert "nope" in outcome.error.message


async def test_validation_error_names_the_fields() -> None:
    d = dispatcher(add, nested)
    outcome = await d.dispatch(Invocation("add", b'{"name": "", "qty": 0}'))
    assert outcome.error is not None
    assert outcome.error.code is ErrorCode.VALIDATION_ERROR and outcome.status == 422
    by_field = {detail["field"]: detail for detail in outcome.error.details}
    assert set(by_field) == {"name", "qty"}
    assert by_field["qty"]["type"] == "greater_than_equal"
    assert "1" in by_field["qty"]["message"]
    deep = await d.dispatch(Invocation("nested", {"item": {"name": "x"}}))
    assert deep.error is not None
    assert [(x["field"], x["type"]) for x in deep.error.details] == [("item.qty", "missing")]


async def test_malformed_json_is_a_bad_request() -> None:
    outcome = await dispatcher(add).dispatch(Invocation("add", b'{"name": "pen",'))
    assert outcome.error is not None
    assert outcome.error.code is ErrorCode.BAD_REQUEST and outcome.status == 400
    assert outcome.error.message.startswith("Malformed JSON")


async def test_handler_exception_is_internal_without_leaking_anything() -> None:
    with LogCapture() as logs:
        outcome = await dispatcher(crash).dispatch(Invocation("crash", {"name": "a", "qty": 1}))
    assert outcome.error is not None
    assert outcome.error.code is ErrorCode.INTERNAL and outcome.status == 500
    wire = str(outcome.error.to_dict())
    assert "secret" not in wire and "Traceback" not in wire and "RuntimeError" not in wire
    # ...but the log has it all, for the operator.
    (line,) = logs.events("action failed")
    assert line["action"] == "crash" and "secret database password" in line["error"]
    assert "Traceback" in line["exception"]


@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_action_error_subclasses_keep_code_status_and_details(kind: str) -> None:
    expected = ERRORS[kind]
    outcome = await dispatcher(raises).dispatch(Invocation("raises", {"kind": kind}))
    assert outcome.error is not None
    assert outcome.error.code is expected.code
    assert outcome.status == expected.status == outcome.error.status
    assert outcome.error.message == expected.message
    assert outcome.error.details == expected.details


def test_error_code_statuses() -> None:
    assert {code: code.status for code in ErrorCode} == {
        ErrorCode.UNKNOWN_ACTION: 404,
        ErrorCode.VALIDATION_ERROR: 422,
        ErrorCode.BAD_REQUEST: 400,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.CONFLICT: 409,
        ErrorCode.PAYLOAD_TOO_LARGE: 413,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
        ErrorCode.RATE_LIMITED: 429,
        ErrorCode.CIRCUIT_OPEN: 503,
        ErrorCode.UNAVAILABLE: 503,
        ErrorCode.TIMEOUT: 504,
        ErrorCode.CANCELLED: 499,
        ErrorCode.INTERNAL: 500,
    }


async def test_failing_middleware_never_escapes() -> None:
    async def broken(invocation: Invocation, call_next: CallNext) -> Outcome:
        raise KeyError("middleware bug")

    async def refusing(invocation: Invocation, call_next: CallNext) -> Outcome:
        raise Forbidden("no entry")

    outcome = await dispatcher(add, middleware=[broken]).dispatch(Invocation("add", {"name": "a", "qty": 1}))
    assert outcome.error is not None and outcome.error.code is ErrorCode.INTERNAL
    assert "middleware bug" not in outcome.error.message
    refused = await dispatcher(add, middleware=[refusing]).dispatch(Invocation("add", b"{}"))
    assert refused.error is not None and refused.error.code is ErrorCode.FORBIDDEN


async def test_context_is_current_during_the_invocation_only() -> None:
    seen: dict[str, Any] = {}

    @action
    async def peek(input: Kind) -> dict[str, Any]:
        seen["ctx"] = get_context()
        return {}

    ctx = Context("corr-42", transport="test")
    await dispatcher(peek).dispatch(Invocation("peek", {"kind": "x"}, ctx))
    assert seen["ctx"] is ctx and ctx.action == "peek"
    assert current_context.get() is None
    with pytest.raises(LookupError):
        get_context()


async def test_caller_deadline_becomes_a_timeout() -> None:
    never = asyncio.Event()

    @action
    async def hang(input: Kind) -> dict[str, Any]:
        await never.wait()
        return {}

    loop = asyncio.get_running_loop()
    ctx = Context(deadline=loop.time() + 0.01)
    async with asyncio.timeout(BOUND):
        outcome = await dispatcher(hang).dispatch(Invocation("hang", {"kind": "x"}, ctx))
    assert outcome.error is not None and outcome.error.code is ErrorCode.TIMEOUT and outcome.status == 504


# ------------------------------------------------------------------------------- through the App


async def test_middleware_order_app_wide_then_per_action() -> None:
    calls: list[str] = []

    def tracer(label: str) -> Any:
        async def mw(invocation: Invocation, call_next: CallNext) -> Outcome:
            calls.append(f"{label}>")
            outcome = await call_next(invocation)
            calls.append(f"<{label}")
            return outcome

        return mw

    @action("traced", middleware=[tracer("action1"), tracer("action2")])
    async def traced(input: Kind) -> dict[str, Any]:
        calls.append("handler")
        return {}

    @action
    async def plain(input: Kind) -> dict[str, Any]:
        calls.append("plain")
        return {}

    app = App("t", actions=[traced, plain], middleware=[tracer("app1")])
    app.add_middleware(tracer("app2"))
    async with TestClient(app, **OFFLINE) as client:
        await client.call("traced", kind="x")
        assert calls == [
            "app1>",
            "app2>",
            "action1>",
            "action2>",
            "handler",
            "<action2",
            "<action1",
            "<app2",
            "<app1",
        ]
        calls.clear()
        await client.call("plain", kind="x")
        assert calls == ["app1>", "app2>", "plain", "<app2", "<app1"]
        calls.clear()
        unknown = await client.invoke("missing", {})
        assert unknown.error is not None and unknown.error.code is ErrorCode.UNKNOWN_ACTION
        assert calls == ["app1>", "app2>", "<app2", "<app1"]  # app middleware sees unknown actions too


async def test_middleware_can_short_circuit_and_rewrite() -> None:
    async def deny_ada(invocation: Invocation, call_next: CallNext) -> Outcome:
        payload = invocation.payload
        assert isinstance(payload, dict)
        if payload.get("name") == "ada":
            return Outcome.failure(ErrorCode.FORBIDDEN, "not ada")
        return await call_next(invocation)

    app = App("t", actions=[add], middleware=[deny_ada])
    async with TestClient(app, **OFFLINE) as client:
        denied = await client.invoke("add", {"name": "ada", "qty": 1})
        allowed = await client.invoke("add", {"name": "bob", "qty": 1})
    assert denied.error is not None and denied.status == 403
    assert allowed.ok


async def test_per_action_timeout() -> None:
    never = asyncio.Event()

    @action("slow", timeout=0.01)
    async def slow(input: Kind) -> dict[str, Any]:
        await never.wait()
        return {}

    @action("quick")
    async def quick(input: Kind) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"ok": True}

    async with TestClient(App("t", actions=[slow, quick]), **OFFLINE) as client, asyncio.timeout(BOUND):
        outcome = await client.invoke("slow", {"kind": "x"})
        assert outcome.error is not None
        assert outcome.error.code is ErrorCode.TIMEOUT and outcome.status == 504
        assert "slow" in outcome.error.message
        assert (await client.invoke("quick", {"kind": "x"})).ok


async def test_app_wide_default_timeout_from_settings() -> None:
    never = asyncio.Event()

    @action
    async def hang(input: Kind) -> dict[str, Any]:
        await never.wait()
        return {}

    async with TestClient(App("t", actions=[hang]), action_timeout_seconds=0.01, **OFFLINE) as client:
        async with asyncio.timeout(BOUND):
            outcome = await client.invoke("hang", {"kind": "x"})
    assert outcome.error is not None and outcome.error.code is ErrorCode.TIMEOUT


async def test_rate_limit() -> None:
    # One token, refilled every 1000 s: the second call in a row is always refused.
    @action("limited", rate_limit=0.001)
    async def limited(input: Kind) -> dict[str, Any]:
        return {}

    async with TestClient(App("t", actions=[limited, add]), **OFFLINE) as client:
        first = await client.invoke("limited", {"kind": "x"})
        second = await client.invoke("limited", {"kind": "x"})
        other = await client.invoke("add", {"name": "a", "qty": 1})
    assert first.ok
    assert second.error is not None
    assert second.error.code is ErrorCode.RATE_LIMITED and second.status == 429
    assert second.error.details["retry_after"] > 0
    assert other.ok  # the limit is per action


async def test_app_call_raises_action_error_for_error_outcomes() -> None:
    async with TestClient(App("t", actions=[add]), **OFFLINE) as client:
        with pytest.raises(ActionError) as info:
            await client.call("add", name="", qty=1)
    assert info.value.code is ErrorCode.VALIDATION_ERROR and info.value.status == 422
    assert info.value.details[0]["field"] == "name"


async def test_log_lines_of_an_invocation_carry_correlation_id_and_action() -> None:
    @action
    async def chatty(input: Kind) -> dict[str, Any]:
        log.info("inside the handler", step=1)
        await asyncio.sleep(0)
        log.warning("still inside", step=2)
        return {}

    @action
    def chatty_sync(input: Kind) -> dict[str, Any]:
        log.info("inside a sync handler")
        return {}

    with LogCapture() as logs:
        async with TestClient(App("t", actions=[chatty, chatty_sync]), **OFFLINE) as client:
            await client.invoke("chatty", {"kind": "x"}, context=Context("corr-abc"))
            await client.invoke("chatty_sync", {"kind": "x"}, context=Context("corr-sync"))
            log.info("outside")
    inside = [line for line in logs.lines if line["event"] in ("inside the handler", "still inside")]
    assert len(inside) == 2
    assert all(line["correlation_id"] == "corr-abc" and line["action"] == "chatty" for line in inside)
    (sync_line,) = logs.events("inside a sync handler")
    assert sync_line["correlation_id"] == "corr-sync" and sync_line["action"] == "chatty_sync"
    (outside,) = logs.events("outside")
    assert "correlation_id" not in outside


class _Empty(BaseModel):
    pass


def _raising(name: str, error: Exception) -> Any:
    async def handler(data: _Empty) -> None:
        raise error

    return action(name)(handler)


async def test_the_public_errors_an_action_raises_keep_their_status() -> None:
    from plugwork.errors import BadRequest, Conflict, Forbidden, InvalidInput, NotFound, Unavailable

    raised = {
        "missing": (NotFound("no order 7"), 404, "NOT_FOUND"),
        "clash": (Conflict("order 7 is already paid"), 409, "CONFLICT"),
        "nope": (Forbidden("not yours"), 403, "FORBIDDEN"),
        "bad": (InvalidInput("bad field", details=[{"field": "x"}]), 422, "VALIDATION_ERROR"),
        "odd": (BadRequest("odd request"), 400, "BAD_REQUEST"),
        "down": (Unavailable("try later"), 503, "UNAVAILABLE"),
    }
    specs = [_raising(name, error) for name, (error, _, _) in raised.items()]
    async with App("errors", actions=specs, settings=Settings(**OFFLINE)) as app:
        for name, (error, status, code) in raised.items():
            outcome = await app.invoke(name, {})
            assert (outcome.status, outcome.code) == (status, code), name
            assert outcome.error is not None and outcome.error.message == str(error)


async def test_a_store_error_raised_by_an_action_is_internal() -> None:
    from plugwork.errors import StoreError

    secret = "connection pool exhausted: host=db password=hunter2"
    async with App(
        "errors", actions=[_raising("broken", StoreError(secret))], settings=Settings(**OFFLINE)
    ) as app:
        outcome = await app.invoke("broken", {})
    assert outcome.code == "INTERNAL"
    assert outcome.error is not None and "hunter2" not in outcome.error.message


async def test_outcome_observers_see_the_final_outcome_inside_the_context() -> None:
    import dataclasses

    seen: list[tuple[str, str, str | None]] = []

    def observe(invocation: Invocation, outcome: Outcome) -> None:
        ctx = current_context.get()
        seen.append((invocation.action, outcome.code, ctx.correlation_id if ctx else None))

    def broken(invocation: Invocation, outcome: Outcome) -> None:
        raise RuntimeError("observer bug")

    async def refuse_qty_2(invocation: Invocation, call_next: CallNext) -> Outcome:
        payload = invocation.payload
        if isinstance(payload, dict) and payload.get("qty") == 2:
            return Outcome.failure(ErrorCode.RATE_LIMITED, "no")
        return await call_next(invocation)

    spec = dataclasses.replace(
        spec_from_function(add), middleware=(refuse_qty_2,), observers=(observe, broken, observe)
    )
    plain = spec_from_function(crash)
    specs = {spec.name: spec, plain.name: plain}
    terminals = {name: bind(s, lambda hint: None) for name, s in specs.items()}
    d = Dispatcher.build(specs, terminals)
    with LogCapture() as logs:
        ok = await d.dispatch(Invocation("add", {"name": "a", "qty": 1}, Context("cid-1")))
        refused = await d.dispatch(Invocation("add", {"name": "a", "qty": 2}, Context("cid-2")))
        invalid = await d.dispatch(Invocation("add", {"qty": 0}, Context("cid-3")))
        await d.dispatch(Invocation("crash", {"name": "a", "qty": 1}, Context("cid-4")))
    assert (ok.code, refused.code, invalid.code) == ("OK", "RATE_LIMITED", "VALIDATION_ERROR")
    # Each observer once per outcome, in order, in the invocation's context; a raising one is logged and
    # neither changes the outcome nor stops the next; an action without observers has none.
    assert seen == [
        ("add", "OK", "cid-1"),
        ("add", "OK", "cid-1"),
        ("add", "RATE_LIMITED", "cid-2"),
        ("add", "RATE_LIMITED", "cid-2"),
        ("add", "VALIDATION_ERROR", "cid-3"),
        ("add", "VALIDATION_ERROR", "cid-3"),
    ]
    assert [line["error"] for line in logs.events("outcome observer failed")] == ["observer bug"] * 3
