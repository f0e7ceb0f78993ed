"""The Plugboard hub: producers ``POST /``, consumers answer over Phoenix Channels at ``/websocket``.

``create_app(HubSettings(...))`` is the ASGI app, ``open_store(url)`` the store of accounts, services and
tokens, and :data:`plugwork.plugboard.hub.cli.hub` the ``plugwork hub`` click group.
"""

from .core import Hub, HubSettings
from .factory import open_store
from .server import HubApp, create_app
from .store import HubStore

__all__ = ["Hub", "HubApp", "HubSettings", "HubStore", "create_app", "open_store"]
