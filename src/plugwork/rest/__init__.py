"""Convention REST routes for actions: ``CreateUser`` → ``POST /users``, ``GetUser`` →
``GET /users/{user_id}``... on Plugwork's HTTP transport (:class:`RestPlugin`) or on FastAPI
(:mod:`plugwork.fastapi`)."""

from .conventions import RestRoute, api_endpoint, convention, exclude_from_api, rest_route, rest_routes
from .plugin import RestPlugin

__all__ = [
    "RestPlugin",
    "RestRoute",
    "api_endpoint",
    "convention",
    "exclude_from_api",
    "rest_route",
    "rest_routes",
]
