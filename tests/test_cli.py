"""The ``plugwork`` command, in-process through click's CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from core_helpers import EXAMPLE_DIR
from plugwork.cli import main
from plugwork.observability.logging import _reset_for_tests

PLUGWORK = Path(sys.executable).parent / "plugwork"


@pytest.fixture
def in_example(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run from the example's directory, importing its ``app`` module afresh each time."""
    monkeypatch.chdir(EXAMPLE_DIR)
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    monkeypatch.delenv("PLUGWORK_CONFIG", raising=False)
    sys.modules.pop("app", None)
    yield
    sys.modules.pop("app", None)
    _reset_for_tests()  # the CLI may have pointed logging at CliRunner's (now closed) stderr


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_actions_table(in_example: None) -> None:
    result = invoke("actions", "app:app")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["Repeat", "greet", "shout"]
    assert "Say hello" in result.stdout and "v1" in result.stdout


def test_actions_json(in_example: None) -> None:
    result = invoke("actions", "app:app", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {"name": "Repeat", "description": "Repeat a text a number of times", "version": "1"},
        {"name": "greet", "description": "Say hello", "version": "1"},
        {
            "name": "shout",
            "description": "Upper-case a text (a sync action: runs off the event loop)",
            "version": "1",
        },
    ]


def test_schema_prints_the_catalog(in_example: None) -> None:
    result = invoke("schema", "app")  # ATTRIBUTE defaults to `app`
    assert result.exit_code == 0
    catalog = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert set(catalog) == {"Repeat", "greet", "shout"}
    assert catalog["greet"]["input_schema"]["properties"]["name"]["maxLength"] == 100
    assert catalog["greet"]["output_schema"]["properties"]["message"]["type"] == "string"
    assert catalog["Repeat"]["input_schema"]["required"] == ["text"]


def test_call_prints_the_outcome(in_example: None) -> None:
    result = invoke("call", "app:app", "greet", '{"name": "World"}')
    assert result.exit_code == 0, result.output
    # stdout holds the outcome only: log lines go to stderr.
    assert json.loads(result.stdout) == {"status": 200, "output": {"message": "Hello, World!"}}
    assert "app started" in result.stderr


def test_call_class_style_and_sync_actions(in_example: None) -> None:
    result = invoke("call", "app:app", "Repeat", '{"text": "ab", "times": 3}')
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"status": 200, "output": {"result": "ababab"}}


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["greet", "{}"], "VALIDATION_ERROR"),
        (["nope"], "UNKNOWN_ACTION"),
    ],
)
def test_call_error_outcome_exits_1(in_example: None, args: list[str], code: str) -> None:
    result = invoke("call", "app:app", *args)
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert outcome["error_code"] == code
    assert outcome["status"] == {"VALIDATION_ERROR": 422, "UNKNOWN_ACTION": 404}[code]


@pytest.mark.parametrize(
    ("payload", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_call_bad_payload(in_example: None, payload: str, message: str) -> None:
    result = invoke("call", "app:app", "greet", payload)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:app", "cannot import module 'no_such_module_xyz': No module named"),
        ("app:nothing_here", "module 'app' has no attribute 'nothing_here'"),
        ("app:log", "not a plugwork.App"),
        (":app", "is not MODULE:ATTRIBUTE"),
    ],
)
def test_bad_app_spec_says_what_went_wrong(in_example: None, spec: str, message: str) -> None:
    result = invoke("actions", spec)
    assert result.exit_code == 2
    assert message in result.output


def test_import_error_inside_the_module_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_example: None
) -> None:
    (tmp_path / "needs_missing.py").write_text("import missing_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("actions", "needs_missing:app")
    assert result.exit_code == 2
    assert "cannot import module 'needs_missing'" in result.output
    assert "missing_dependency_xyz" in result.output


def test_definition_error_is_a_clean_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dup_app.py").write_text(
        "from plugwork import App\n"
        f"app = App('dup', actions=[{str(EXAMPLE_DIR.parent.parent / 'tests/fixtures/duplicates')!r}])\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(main, ["actions", "dup_app:app"])
    assert result.exit_code == 1
    assert "DefinitionError: duplicate action name 'same'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["run", "worker", "actions", "call", "schema", "Plugwork"]),
        (["run"], ["--host", "--port", "--config", "--log-json", "--log-level", "--dev", "SIGTERM"]),
        (["actions"], ["--json", "MODULE:ATTRIBUTE"]),
        (["call"], ["ACTION", "PAYLOAD", "Exits 1"]),
        (["schema"], ["JSON Schema"]),
    ],
)
def test_help_texts(args: list[str], expected: list[str]) -> None:
    result = invoke(*args, "--help")
    assert result.exit_code == 0
    for text in expected:
        assert text in result.output, text


# ----------------------------------------------------------------------------------------- subprocess


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    return subprocess.run(
        [str(PLUGWORK), *args], cwd=EXAMPLE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_installed_command_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "Usage: plugwork" in result.stdout and "run" in result.stdout


def test_subprocess_call_and_actions() -> None:
    called = run_cli("call", "app:app", "greet", '{"name": "World"}', "--config", "plugwork.yaml")
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout) == {"status": 200, "output": {"message": "Hello, World!"}}
    listed = run_cli("actions", "app:app", "--json")
    assert listed.returncode == 0
    assert [a["name"] for a in json.loads(listed.stdout)] == ["Repeat", "greet", "shout"]


def test_subprocess_bad_app() -> None:
    result = run_cli("schema", "not_a_module_abc:app")
    assert result.returncode == 2
    assert "cannot import module 'not_a_module_abc'" in result.stderr


def test_call_starts_the_queue_so_an_action_can_enqueue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "enqueuer.py").write_text(
        "from pydantic import BaseModel\n"
        "from plugwork import App, action\n\n\n"
        "class In(BaseModel):\n    n: int\n\n\n"
        "@action\nasync def later(data: In) -> None:\n    return None\n\n\n"
        "@action\nasync def schedule(data: In, app: App) -> dict:\n"
        "    return {'job_id': await app.enqueue('later', {'n': data.n})}\n\n\n"
        "app = App('enqueuer', actions=[later, schedule])\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PLUGWORK_QUEUE_URL", f"sqlite:///{tmp_path}/jobs.db")
    result = invoke("call", "enqueuer:app", "schedule", '{"n": 1}')
    assert result.exit_code == 0, result.output
    job_id = json.loads(result.stdout)["output"]["job_id"]
    listed = invoke("jobs", "show", job_id)
    assert listed.exit_code == 0, listed.output
    assert '"status": "ready"' in listed.stdout  # enqueued; `call` runs no worker
