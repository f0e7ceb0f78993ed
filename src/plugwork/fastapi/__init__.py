"""Plugwork inside FastAPI: convention routes for events and actions, a typed router per action, and a
whole Plugwork app mounted with its lifespan. Needs the ``fastapi`` extra (``pip install
'plugwork[fastapi]'``)."""

from .apps import action_router, lifespan, mount_app
from .errors import register_error_handlers
from .legacy import PyModulesAPI
from .routers import ModuleRouter, rest_router

__all__ = [
    "ModuleRouter",
    "PyModulesAPI",
    "action_router",
    "lifespan",
    "mount_app",
    "register_error_handlers",
    "rest_router",
]
