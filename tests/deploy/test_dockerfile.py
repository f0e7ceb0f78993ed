"""The Dockerfile passes hadolint and has what docs/deploy.md says: multi-stage, slim base, non-root user,
a HEALTHCHECK on /health/live, the speed and postgres extras, and a .dockerignore that keeps what it copies.
(No Docker engine runs here: the image itself is not built by these tests; its commands are run outside a
container by test_compose_scenario.py.)"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from deploy_helpers import BIN, ROOT, tool

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"^{name}\s+(.*)$", DOCKERFILE, re.MULTILINE)]


def test_hadolint_passes() -> None:
    result = tool("hadolint", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /app\n")
    result = tool("hadolint", str(bad))
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3008" in result.stdout


def test_multi_stage_on_a_slim_base_with_a_non_root_user() -> None:
    stages = instructions("FROM")
    assert len(stages) == 2 and all("-slim" in stage for stage in stages)
    assert any("--from=build" in copy for copy in instructions("COPY"))
    [user] = instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    assert '".[speed,postgres]"' in DOCKERFILE


def test_healthcheck_and_entrypoint_are_the_shipped_scripts() -> None:
    [health] = instructions("HEALTHCHECK")
    assert '["plugwork-healthcheck"]' in health
    assert "/health/live" in (BIN / "plugwork-healthcheck").read_text()
    assert instructions("ENTRYPOINT") == ['["plugwork-entrypoint"]']
    assert instructions("CMD") == ['["plugwork", "run", "app:app", "--config", "plugwork.yaml"]']
    for script in BIN.iterdir():
        assert script.stat().st_mode & 0o111, f"{script.name} must be executable"


def test_dockerignore_keeps_every_path_the_dockerfile_copies() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]
    rules = [rule for rule in rules if not rule.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:  # the last matching rule wins, as in Docker
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/") or pattern == "**":
                keep = negated
        return keep

    sources = []
    for copy in instructions("COPY"):
        parts = [part for part in copy.split() if not part.startswith("--")]
        if "--from=" not in copy:
            sources += parts[:-1]
    assert sources, "the Dockerfile copies from the build context"
    for source in sources:
        path = source.rstrip("/")
        assert (ROOT / path).exists(), path
        assert included(path), f"{path} is excluded by .dockerignore"
    assert not included("tests/conftest.py") and not included(".venv/bin/python")
