"""Optional extras: a missing one is one clear line naming what to install, for every extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from plugwork.errors import MissingDependency, PlugworkError
from plugwork.extras import require

# Every optional import of Plugwork: (module imported, extra that installs it, a module that needs it).
EXTRAS = [
    ("asyncpg", "postgres", "plugwork.queue.postgres"),
    ("asyncpg", "postgres", "plugwork.plugboard.hub.postgres"),
    ("asyncpg", "postgres", "plugwork.plugboard.hub.pgbackplane"),
    ("httptools", "speed", "plugwork.http.httptools_limits"),
    ("fastapi", "fastapi", "plugwork.fastapi"),
    ("fastapi", "fastapi", "plugwork.events.api"),
    ("fastapi", "fastapi", "plugwork.events.fastapi"),
    ("asyncpg", "postgres", "plugwork.registry.stores.postgres"),
    ("redis.asyncio", "redis", "plugwork.registry.stores.redis"),
    ("pymongo", "mongodb", "plugwork.registry.stores.mongodb"),
    ("httpx", "registry", "plugwork.registry.transport"),
    ("jsonschema", "registry", "plugwork.registry.stubs"),
    ("httpx", "soajs", "plugwork.soajs.wire"),
    ("httpx", "soajs", "plugwork.soajs.registry"),
    ("sqlalchemy", "db", "plugwork.db.models"),
    ("sqlalchemy", "db", "plugwork.db.repository"),
    ("jwt", "auth", "plugwork.auth.jwt"),
    ("jwt", "auth", "plugwork.auth.jwks"),
]


def _hidden(tmp_path: Path, module: str) -> Path:
    """A directory that, put first on sys.path, makes ``module`` look not installed."""
    shadow = tmp_path / "shadow"
    shadow.mkdir(exist_ok=True)
    top = module.partition(".")[0]
    (shadow / f"{top}.py").write_text(
        f"raise ModuleNotFoundError({f'No module named {top!r}'!r}, name={top!r})\n", encoding="utf-8"
    )
    return shadow


@pytest.mark.parametrize(("module", "extra", "user"), EXTRAS)
def test_every_optional_import_names_its_extra(tmp_path: Path, module: str, extra: str, user: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{_hidden(tmp_path, module)}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    code = (
        "import importlib, sys\n"
        "from plugwork.errors import MissingDependency\n"
        "try:\n"
        f"    importlib.import_module({user!r})\n"
        "except MissingDependency as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert (
        done.stdout.strip() == f"{module.partition('.')[0]} is not installed: pip install 'plugwork[{extra}]'"
    )


# Optional imports made when a feature is used rather than imported: (module, extra, code that uses it).
USES = [
    (
        "httpx2",
        "clients",
        "import asyncio\nfrom plugwork import App\nfrom plugwork.clients import RestAPIService\n"
        "asyncio.run(RestAPIService(App('x')).start())",
    ),
    (
        "opentelemetry",
        "otel",
        "from plugwork.observability.tracing import TraceCarrier\nTraceCarrier()",
    ),
]


@pytest.mark.parametrize(("module", "extra", "code"), USES)
def test_every_optional_use_names_its_extra(tmp_path: Path, module: str, extra: str, code: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{_hidden(tmp_path, module)}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    script = "import sys\nfrom plugwork.errors import MissingDependency\ntry:\n"
    script += "".join(f"    {line}\n" for line in code.splitlines())
    script += "except MissingDependency as exc:\n    print(exc)\n    sys.exit(3)\n"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == f"{module} is not installed: pip install 'plugwork[{extra}]'"


def test_require_returns_the_module() -> None:
    assert require("json", extra="none").dumps([]) == "[]"


def test_a_missing_package_is_a_plugwork_error_and_an_import_error() -> None:
    with pytest.raises(MissingDependency) as info:
        require("plugwork_no_such_package.sub", extra="thing")
    assert str(info.value) == "plugwork_no_such_package is not installed: pip install 'plugwork[thing]'"
    assert isinstance(info.value, PlugworkError) and isinstance(info.value, ImportError)
    assert (info.value.package, info.value.extra) == ("plugwork_no_such_package", "thing")


def test_an_import_error_inside_an_installed_package_is_not_masked(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "broken_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import plugwork_missing_inner_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("broken_pkg", extra="broken")
    assert not isinstance(info.value, MissingDependency)
    assert info.value.name == "plugwork_missing_inner_dependency"


def test_plugwork_run_without_the_extra_prints_the_hint_and_fails(tmp_path: Path) -> None:
    app_file = tmp_path / "svc.py"
    app_file.write_text("from plugwork import App\napp = App('svc')\n", encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(_hidden(tmp_path, "asyncpg")),
        "PLUGWORK_QUEUE_URL": "postgresql://postgres@127.0.0.1:5432/test",
    }
    plugwork = Path(sys.executable).with_name("plugwork")
    done = subprocess.run(
        [str(plugwork), "run", "svc:app", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: MissingDependency: asyncpg is not installed: pip install 'plugwork[postgres]'"
    )
    assert "Traceback" not in done.stderr
