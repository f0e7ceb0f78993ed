"""The HTTP transport (ASGI): action routes, catalog, OpenAPI, health, metrics, jobs, dev and management."""

from .asgi import HttpTransport

__all__ = ["HttpTransport"]
