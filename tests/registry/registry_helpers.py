"""Helpers shared by the registry tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location("plugwork_tests_root", Path(__file__).parents[1] / "conftest.py")
assert _spec is not None and _spec.loader is not None
_root: Any = importlib.util.module_from_spec(_spec)
# tests/conftest.py is importable only by path here: every conftest.py shares the module name "conftest".
_spec.loader.exec_module(_root)

require_server = _root.require_server
POSTGRES_URL: str = _root.POSTGRES_URL
