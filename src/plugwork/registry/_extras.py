"""Optional imports, until ``plugwork.extras.require`` (the extension seam) lands on main."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import PlugworkError


class MissingDependency(PlugworkError):
    """An optional package is not installed; the message names the extra that installs it."""


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming ``pip install 'plugwork[extra]'``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise MissingDependency(f"{module} is not installed: pip install 'plugwork[{extra}]'") from None
