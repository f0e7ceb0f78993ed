"""``pymodules.api`` → ``plugwork.events.api``: convention REST routes on FastAPI.

Needs the ``fastapi`` extra.
"""

from ...fastapi.errors import register_error_handlers
from ...fastapi.routers import ModuleRouter
from ...rest.conventions import RestRoute, api_endpoint, exclude_from_api

__all__ = ["ModuleRouter", "RestRoute", "api_endpoint", "exclude_from_api", "register_error_handlers"]
