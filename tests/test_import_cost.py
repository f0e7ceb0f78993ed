"""``import plugwork`` stays light: no optional integration, no transport library until it is used."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_EXTRAS = {"dev", "bench", "all"}  # tooling, and the union of the others
IMPORT_NAMES = {"opentelemetry_api": "opentelemetry", "opentelemetry_sdk": "opentelemetry"}
# Core dependencies that only a transport needs: imported when the app serves, not at import.
LAZY_CORE = ["uvicorn", "starlette", "websockets", "aiosqlite", "croniter", "click"]


def optional_modules() -> set[str]:
    """Top-level import names of every package that an extra of pyproject.toml installs."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = set()
    for extra, requirements in extras.items():
        if extra in NOT_EXTRAS:
            continue
        for requirement in requirements:
            dist = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")
            if dist.startswith("plugwork"):
                continue
            name = IMPORT_NAMES.get(dist, dist)
            names.add(name.split("_exporter")[0] if name.startswith("opentelemetry") else name)
    return names


def test_import_plugwork_imports_no_optional_integration() -> None:
    code = "import json, sys, plugwork; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {name.partition(".")[0] for name in json.loads(done.stdout)}
    optional = optional_modules()
    assert {"asyncpg", "uvloop", "httptools", "httpx", "opentelemetry"} <= optional  # the table is read
    assert not optional & loaded, f"import plugwork imported optional packages: {sorted(optional & loaded)}"
    assert not set(LAZY_CORE) & loaded, f"imported at import time: {sorted(set(LAZY_CORE) & loaded)}"
