"""Paths and tools shared by the tests of deploy/ (the Dockerfile, compose file, manifests and scripts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = DEPLOY / "bin"
K8S = DEPLOY / "k8s"
VENV_BIN = Path(sys.executable).parent


def tool(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run one of the dev extra's tools: hadolint, kubernetes-validate, check-jsonschema, shellcheck."""
    return subprocess.run(
        [str(VENV_BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
