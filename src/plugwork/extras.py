"""TEMPORARY stand-in for the seam's plugwork.extras (replaced by main's version at merge)."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and module.startswith(exc.name):
            raise ImportError(f"{module} is not installed: pip install 'plugwork[{extra}]'") from exc
        raise
