"""TEMPORARY stand-in for the seam's extras.require (replaced when the seam lands)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .errors import PlugworkError


class MissingDependency(PlugworkError):
    """An optional package is not installed."""


def require(module: str, *, extra: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependency` naming the extra."""
    try:
        mod: ModuleType = importlib.import_module(module)
    except ImportError as exc:
        root = module.split(".")[0]
        if exc.name and exc.name.split(".")[0] == root:
            raise MissingDependency(f"{root} is not installed: pip install 'plugwork[{extra}]'") from None
        raise
    return mod
