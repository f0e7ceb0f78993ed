"""``pymodules.fastapi`` → ``plugwork.events.fastapi``: the legacy ``PyModulesAPI`` (prefer ``.api``)."""

from ..fastapi.legacy import CorrelationIdMiddleware, PyModulesAPI

__all__ = ["CorrelationIdMiddleware", "PyModulesAPI"]
