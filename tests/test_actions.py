"""Actions: both styles, input/output detection, injection, start-up errors and JSON Schemas."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel, Field

from core_helpers import OFFLINE
from plugwork import (
    ActionError,
    ActionResponse,
    ActionRunner,
    App,
    AppState,
    Context,
    DefinitionError,
    DependencyError,
    ErrorCode,
    Service,
    Settings,
    action,
    get_context,
)
from plugwork.actions import as_action, spec_from_function, spec_from_runner
from plugwork.testing import TestClient


class GreetIn(BaseModel):
    name: str = Field(min_length=1)


class GreetOut(BaseModel):
    message: str


class Greeter(Service):
    def greet(self, name: str) -> str:
        return f"Hello, {name}!"


# ------------------------------------------------------------------------------------- function actions


async def test_async_function_action_runs_on_the_loop() -> None:
    seen: dict[str, Any] = {}

    @action("greet", description="Say hello")
    async def greet(input: GreetIn) -> GreetOut:
        seen["thread"] = threading.get_ident()
        return GreetOut(message=f"Hello, {input.name}!")

    async with TestClient(App("t", actions=[greet]), **OFFLINE) as client:
        out = await client.call("greet", name="Ada")
    assert out == GreetOut(message="Hello, Ada!")
    assert seen["thread"] == threading.get_ident()


async def test_sync_function_action_runs_off_the_event_loop() -> None:
    seen: dict[str, Any] = {}

    @action
    def shout(input: GreetIn) -> dict[str, str]:
        seen["thread"] = threading.get_ident()
        try:
            asyncio.get_running_loop()
            seen["loop"] = True
        except RuntimeError:
            seen["loop"] = False
        return {"text": input.name.upper()}

    spec = as_action(shout)
    assert spec is not None and spec.name == "shout" and not spec.is_async
    async with TestClient(App("t", actions=[shout]), **OFFLINE) as client:
        assert await client.call("shout", name="ada") == {"text": "ADA"}
    assert seen["thread"] != threading.get_ident()
    assert seen["loop"] is False  # a worker thread, not the loop's


def test_decorator_forms_and_options() -> None:
    @action
    async def bare(input: GreetIn) -> GreetOut: ...

    @action()
    async def empty_call(input: GreetIn) -> GreetOut:
        """Docstring description."""

    @action("named", version="2", timeout=1.5, queue="slow", rate_limit=3, tags=["x"], max_attempts=4)
    async def options(input: GreetIn) -> GreetOut: ...

    assert spec_from_function(bare).name == "bare"
    assert spec_from_function(empty_call).description == "Docstring description."
    spec = spec_from_function(options)
    assert (spec.name, spec.version, spec.timeout, spec.queue, spec.rate_limit, spec.tags) == (
        "named",
        "2",
        1.5,
        "slow",
        3,
        ("x",),
    )
    assert spec.max_attempts == 4


def test_decorator_touches_no_global_state() -> None:
    async def fn(input: GreetIn) -> GreetOut: ...

    marked = action("x")(fn)
    assert marked is fn  # the function itself, only with metadata attached
    assert App("a").actions == {}


def test_input_detected_from_pydantic_parameter_wherever_it_is() -> None:
    @action
    async def late_input(ctx: Context, greeter: Greeter, payload: GreetIn) -> GreetOut: ...

    spec = spec_from_function(late_input)
    assert spec.input_model is GreetIn
    assert spec.input_param == "payload"
    assert spec.dependencies == {"ctx": Context, "greeter": Greeter}


def test_settings_and_services_are_never_taken_as_input() -> None:
    @action
    async def uses(settings: Settings, greeter: Greeter, input: GreetIn) -> GreetOut: ...

    spec = spec_from_function(uses)
    assert spec.input_param == "input"
    assert set(spec.dependencies) == {"settings", "greeter"}


def test_output_type_from_return_annotation() -> None:
    @action
    async def model_out(input: GreetIn) -> GreetOut: ...

    @action
    async def dict_out(input: GreetIn) -> dict[str, int]: ...

    @action
    async def none_out(input: GreetIn): ...  # type: ignore[no-untyped-def]

    assert spec_from_function(model_out).output_type is GreetOut
    assert spec_from_function(dict_out).output_type == dict[str, int]
    assert spec_from_function(none_out).output_schema() == {}


def test_json_schema_of_input_and_output() -> None:
    @action("greet", description="Say hello")
    async def greet(input: GreetIn) -> GreetOut: ...

    @action
    async def counts(input: GreetIn) -> dict[str, int]: ...

    spec = spec_from_function(greet)
    schema_in = spec.input_schema()
    assert schema_in["properties"]["name"]["type"] == "string"
    assert schema_in["properties"]["name"]["minLength"] == 1
    assert schema_in["required"] == ["name"]
    assert spec.output_schema()["properties"]["message"]["type"] == "string"
    assert spec_from_function(counts).output_schema() == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    entry = spec.describe()
    assert entry["name"] == "greet" and entry["description"] == "Say hello" and entry["version"] == "1"
    assert entry["input_schema"] == schema_in and entry["output_schema"] == spec.output_schema()


async def test_services_injected_by_type_and_context_injected() -> None:
    @action
    async def greet(input: GreetIn, greeter: Greeter, ctx: Context) -> dict[str, Any]:
        assert get_context() is ctx
        return {
            "message": greeter.greet(input.name),
            "correlation_id": ctx.correlation_id,
            "action": ctx.action,
            "transport": ctx.transport,
        }

    app = App("t", actions=[greet])  # Greeter is registered because the action asks for it
    async with TestClient(app, **OFFLINE) as client:
        out = await client.invoke("greet", {"name": "Ada"}, context=Context("corr-1", transport="call"))
        assert app.container is not None
        greeter = app.container.get("greeter")
    assert out.ok
    assert out.output == {
        "message": "Hello, Ada!",
        "correlation_id": "corr-1",
        "action": "greet",
        "transport": "call",
    }
    assert isinstance(greeter, Greeter)


async def test_one_service_instance_shared_by_all_actions() -> None:
    instances: list[Greeter] = []

    @action
    async def one(input: GreetIn, greeter: Greeter) -> dict[str, str]:
        instances.append(greeter)
        return {}

    @action
    def two(input: GreetIn, greeter: Greeter) -> dict[str, str]:
        instances.append(greeter)
        return {}

    async with TestClient(App("t", actions=[one, two]), **OFFLINE) as client:
        await client.call("one", name="a")
        await client.call("two", name="b")
    assert len(instances) == 2 and instances[0] is instances[1]


# ----------------------------------------------------------------------------------------- class style


class Repeat(ActionRunner):
    """Repeat a text."""

    text: str
    times: int = Field(2, ge=1)

    @classmethod
    def description(cls) -> str:
        return "Repeat a text a number of times"

    async def run(self, ctx: Context) -> ActionResponse:
        return ActionResponse(
            status_code=201, message=f"for {ctx.correlation_id}", fields={"result": self.text * self.times}
        )


class Lookup(ActionRunner):
    action_name = "lookup"
    key: str

    async def run(self, ctx: Context, greeter: Greeter) -> ActionResponse:
        if self.key == "missing":
            return ActionResponse(status_code=404, message="no such key", fields={"key": self.key})
        if self.key == "boom":
            return ActionResponse(status_code=502, message="upstream failed")
        return ActionResponse(fields={"value": greeter.greet(self.key)})


class Double(ActionRunner):
    value: int

    def run(self, ctx: Context) -> GreetOut:  # type: ignore[override]
        return GreetOut(message=str(self.value * 2) + ":" + str(threading.get_ident()))


def test_runner_spec_matches_the_function_style() -> None:
    spec = spec_from_runner(Repeat)
    assert spec.name == "Repeat"
    assert spec.description == "Repeat a text a number of times"
    assert spec.input_model is Repeat
    assert spec.runner_class is Repeat
    assert spec.dependencies == {"ctx": Context}
    assert spec.input_schema()["required"] == ["text"]
    assert spec.input_schema()["properties"]["times"]["minimum"] == 1
    # Both styles give an Action with the same catalog entry shape.
    lookup = spec_from_runner(Lookup)
    assert lookup.name == "lookup"
    assert lookup.dependencies == {"ctx": Context, "greeter": Greeter}
    assert set(spec.describe()) == {
        "name",
        "description",
        "version",
        "queue",
        "cron",
        "input_schema",
        "output_schema",
    }


def test_runner_description_defaults_to_docstring() -> None:
    class Documented(ActionRunner):
        """From the docstring."""

        x: int

        async def run(self, ctx: Context) -> dict[str, int]:
            return {"x": self.x}

    assert spec_from_runner(Documented).description == "From the docstring."


async def test_runner_response_status_message_and_fields() -> None:
    async with TestClient(App("t", actions=[Repeat]), **OFFLINE) as client:
        outcome = await client.invoke("Repeat", {"text": "ab", "times": 3}, context=Context("c-9"))
    assert outcome.ok
    assert outcome.status == 201
    assert outcome.message == "for c-9"
    assert outcome.output == {"result": "ababab"}


async def test_runner_response_of_400_or_more_is_an_error() -> None:
    async with TestClient(App("t", actions=[Lookup]), **OFFLINE) as client:
        ok = await client.invoke("lookup", {"key": "Ada"})
        missing = await client.invoke("lookup", {"key": "missing"})
        boom = await client.invoke("lookup", {"key": "boom"})
    assert ok.ok and ok.output == {"value": "Hello, Ada!"}
    assert missing.error is not None and missing.status == 404
    assert missing.error.code is ErrorCode.NOT_FOUND
    assert missing.error.message == "no such key"
    assert missing.error.details == {"key": "missing"}
    assert boom.error is not None and boom.status == 502 and boom.error.code is ErrorCode.INTERNAL


async def test_sync_runner_runs_off_the_loop() -> None:
    async with TestClient(App("t", actions=[Double]), **OFFLINE) as client:
        out = await client.call("Double", value=21)
    value, thread = out.message.split(":")
    assert value == "42"
    assert int(thread) != threading.get_ident()


async def test_runner_validation_uses_the_model_fields() -> None:
    async with TestClient(App("t", actions=[Repeat]), **OFFLINE) as client:
        outcome = await client.invoke("Repeat", {"text": "a", "times": 0})
    assert outcome.error is not None and outcome.error.code is ErrorCode.VALIDATION_ERROR
    assert [d["field"] for d in outcome.error.details] == ["times"]


def test_abstract_runner_base_is_not_an_action() -> None:
    class Base(ActionRunner):
        shared: int = 0

    assert as_action(Base) is None
    assert as_action(ActionRunner) is None


# --------------------------------------------------------------------------------- definition errors


def test_no_input_model_is_a_definition_error() -> None:
    @action
    async def no_input(name: str) -> GreetOut: ...

    with pytest.raises(DefinitionError, match="no input model"):
        spec_from_function(no_input)


def test_unannotated_parameter_is_a_definition_error() -> None:
    @action
    async def untyped(input: GreetIn, other) -> GreetOut: ...  # type: ignore[no-untyped-def]

    with pytest.raises(DefinitionError, match="'other' has no type annotation"):
        spec_from_function(untyped)


def test_invalid_name_and_option_are_definition_errors() -> None:
    @action("has space")
    async def bad_name(input: GreetIn) -> GreetOut: ...

    @action("c", cron="not a cron")
    async def bad_cron(input: GreetIn) -> GreetOut: ...

    with pytest.raises(DefinitionError, match="invalid action name"):
        spec_from_function(bad_name)
    with pytest.raises(DefinitionError, match="invalid cron"):
        spec_from_function(bad_cron)


async def test_no_input_model_fails_app_start() -> None:
    @action
    async def no_input(name: str) -> GreetOut: ...

    app = App("t", actions=[no_input])
    with pytest.raises(DefinitionError, match="no_input"):
        await TestClient(app, **OFFLINE).__aenter__()
    assert app.state is AppState.FAILED


class NotInjectable:
    pass


class Clock:
    def now(self) -> int:
        return 42


async def test_unresolvable_dependency_fails_app_start() -> None:
    @action
    async def needs(input: GreetIn, thing: NotInjectable) -> GreetOut: ...

    app = App("t", actions=[needs])
    with pytest.raises(DependencyError) as info:
        await TestClient(app, **OFFLINE).__aenter__()
    message = str(info.value)
    assert "'needs'" in message and "'thing'" in message and "NotInjectable" in message
    assert app.state is AppState.FAILED


async def test_provided_objects_are_injectable() -> None:
    @action
    async def when(input: GreetIn, clock: Clock) -> dict[str, int]:
        return {"now": clock.now()}

    app = App("t", actions=[when])
    app.provide(Clock, Clock())
    async with TestClient(app, **OFFLINE) as client:
        assert await client.call("when", name="x") == {"now": 42}


async def test_action_error_subclass_from_handler_keeps_its_code() -> None:
    @action
    async def guarded(input: GreetIn) -> GreetOut:
        raise ActionError("teapot", code=ErrorCode.CONFLICT, details={"why": input.name})

    async with TestClient(App("t", actions=[guarded]), **OFFLINE) as client:
        with pytest.raises(ActionError) as info:
            await client.call("guarded", name="x")
    assert info.value.code is ErrorCode.CONFLICT
    assert info.value.status == 409
    assert info.value.details == {"why": "x"}


def test_error_codes_for_response_statuses() -> None:
    from plugwork import ErrorCode

    assert ErrorCode.for_status(404) is ErrorCode.NOT_FOUND
    assert ErrorCode.for_status(503) is ErrorCode.UNAVAILABLE
    assert ErrorCode.for_status(422) is ErrorCode.VALIDATION_ERROR
    assert ErrorCode.for_status(418) is ErrorCode.BAD_REQUEST
    assert ErrorCode.for_status(502) is ErrorCode.INTERNAL
    assert all(ErrorCode.for_status(code.status).status == code.status for code in ErrorCode)
