"""The greeter example: function and class actions, a service injected by type, its config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core_helpers import EXAMPLE_DIR, OFFLINE, load_example
from plugwork import ActionError, Context, ErrorCode, ServiceState
from plugwork.testing import TestClient

CONFIG = str(EXAMPLE_DIR / "plugwork.yaml")


@pytest.fixture(autouse=True)
def no_stray_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the example's own config file: no .env from the working directory, no PLUGWORK_ variables."""
    import os

    for key in [k for k in os.environ if k.startswith("PLUGWORK_") or k in ("HTTP_PORT", "HTTP_HOST")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


async def test_function_class_and_sync_actions() -> None:
    example = load_example()
    async with TestClient(example.app, config_file=CONFIG, **OFFLINE) as client:
        assert set(example.app.actions) == {"greet", "shout", "Repeat"}
        assert await client.call("greet", name="World") == example.GreetOut(message="Hello, World!")
        assert await client.call("shout", text="hey") == {"text": "HEY"}
        repeat = await client.invoke("Repeat", {"text": "ab", "times": 3}, context=Context("ctx-1"))
        assert repeat.ok and repeat.output == {"result": "ababab"}
        assert repeat.message == "repeated for ctx-1"
        assert not example.app.actions["shout"].is_async
        assert example.app.actions["Repeat"].runner_class is example.Repeat


async def test_service_is_injected_by_type_and_configured_from_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUGWORK_SERVICES__GREETER__GREETING", "Howdy")
    example = load_example()
    async with TestClient(example.app, config_file=CONFIG, **OFFLINE) as client:
        assert example.app.settings.name == "greeter" and example.app.settings.version == "1.0.0"
        assert example.app.container is not None
        greeter = example.app.container.get("greeter")
        assert isinstance(greeter, example.Greeter)
        assert greeter.state is ServiceState.RUNNING
        assert greeter.config == example.GreeterConfig(greeting="Howdy", punctuation="!")
        assert await client.call("greet", name="Ada") == example.GreetOut(message="Howdy, Ada!")


async def test_over_http() -> None:
    example = load_example()
    async with TestClient(example.app, config_file=CONFIG, **OFFLINE) as client:
        response = await client.http.post("/actions/greet", json={"name": "World"})
        assert response.status_code == 200 and response.json() == {"message": "Hello, World!"}
        too_long = await client.http.post("/actions/greet", json={"name": "x" * 101})
        assert too_long.status_code == 422
        assert too_long.json()["details"][0]["field"] == "name"
        assert [a["name"] for a in (await client.http.get("/actions")).json()] == ["Repeat", "greet", "shout"]
        health = (await client.http.get("/health")).json()
        assert health["status"] == "GREEN" and health["checks"]["greeter"]["status"] == "GREEN"


async def test_validation_of_the_class_style_fields() -> None:
    example = load_example()
    async with TestClient(example.app, **OFFLINE) as client:
        with pytest.raises(ActionError) as info:
            await client.call("Repeat", text="a", times=0)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.details[0]["field"] == "times"
