"""Discovery of actions in modules, packages (recursively), directories and files."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from core_helpers import FIXTURES, OFFLINE
from plugwork import Action, App, AppState, DefinitionError, action
from plugwork.discovery import discover
from plugwork.testing import TestClient

PACKAGE_ACTIONS = {"root", "invoice.create", "Refund", "deep"}
USVC_DIR = FIXTURES / "usvc_service" / "actions"


@pytest.fixture
def fixture_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``tests/fixtures`` importable; the fixture package forgotten afterwards so each test imports it."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    yield
    for name in [n for n in sys.modules if n == "pw_fixture_pkg" or n.startswith("pw_fixture_pkg.")]:
        del sys.modules[name]


class In(BaseModel):
    x: int


@action("local")
async def local(input: In) -> dict[str, int]:
    return {"x": input.x}


def test_module_by_name_finds_only_its_own_actions() -> None:
    found = discover([__name__])
    # `action` and the models are imported here, not defined: only `local` is an action of this module.
    assert set(found) == {"local"}
    assert found["local"].handler is local


def test_module_object() -> None:
    assert set(discover([sys.modules[__name__]])) == {"local"}


def test_package_is_walked_recursively(fixture_path: None) -> None:
    found = discover(["pw_fixture_pkg"])
    assert set(found) == PACKAGE_ACTIONS
    assert found["deep"].handler.__module__ == "pw_fixture_pkg.billing.deep.nested"
    assert found["Refund"].runner_class is not None


def test_reexported_action_is_not_a_duplicate(fixture_path: None) -> None:
    # pw_fixture_pkg.helpers imports `root`; listing both modules must not refuse it as a duplicate.
    found = discover(["pw_fixture_pkg", "pw_fixture_pkg.helpers"])
    assert "root" in found


def test_subpackage_alone(fixture_path: None) -> None:
    assert set(discover(["pw_fixture_pkg.billing"])) == {"invoice.create", "Refund", "deep"}


def test_directory_in_usvc_layout() -> None:
    found = discover([USVC_DIR])
    assert set(found) == {"greet", "echo"}
    # The same directory given as a string path and as a Path gives the same specs (imported once).
    again = discover([str(USVC_DIR)])
    assert again["greet"].handler is found["greet"].handler


def test_single_file_path() -> None:
    found = discover([USVC_DIR / "greet" / "handler.py"])
    assert set(found) == {"greet"}


def test_functions_classes_and_specs_directly() -> None:
    from plugwork.actions import spec_from_function

    spec = spec_from_function(local)
    assert isinstance(spec, Action)
    assert set(discover([local])) == {"local"}
    assert discover([spec])["local"] is spec


def test_same_source_twice_is_fine() -> None:
    assert set(discover([__name__, __name__, local])) == {"local"}


def test_duplicate_names_in_two_modules_are_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        discover([FIXTURES / "duplicates"])
    message = str(info.value)
    assert "duplicate action name 'same'" in message
    assert "also_same" in message and ".same" in message


async def test_duplicate_names_fail_app_start() -> None:
    app = App("dup", actions=[FIXTURES / "duplicates" / "first.py", FIXTURES / "duplicates" / "second.py"])
    with pytest.raises(DefinitionError, match="duplicate action name 'same'"):
        await TestClient(app, **OFFLINE).__aenter__()
    assert app.state is AppState.FAILED


def test_missing_path_and_module_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="does not exist"):
        discover([tmp_path / "nowhere"])
    with pytest.raises(DefinitionError, match="cannot import action module 'no_such_module_xyz'"):
        discover(["no_such_module_xyz"])
    with pytest.raises(DefinitionError, match="not an action"):
        discover([42])


def test_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('oops at import')\n")
    with pytest.raises(DefinitionError, match="oops at import") as info:
        discover([broken])
    assert str(broken) in str(info.value)


def test_discovery_happens_at_first_use_not_at_construction(fixture_path: None) -> None:
    app = App("lazy", actions=["module_that_does_not_exist_yet"])
    assert app.state is AppState.CREATED  # nothing imported yet
    with pytest.raises(DefinitionError):
        _ = app.actions


async def test_discovered_actions_run(fixture_path: None) -> None:
    app = App("pkg", actions=["pw_fixture_pkg", USVC_DIR])
    async with TestClient(app, **OFFLINE) as client:
        assert set(app.actions) == PACKAGE_ACTIONS | {"greet", "echo"}
        assert await client.call("deep") == {"depth": 3}
        assert await client.call("invoice.create", amount=5) == {"amount": 5}
        assert await client.call("Refund", amount=2) == {"refunded": 2}
        assert await client.call("greet", name="Ada") == {"message": "Hello, Ada!"}
        assert await client.call("echo", text="hi") == {"text": "hi"}
