"""Outbound HTTP clients as services: :class:`RestAPIService` and its :class:`RestAPIConfig`.

Needs the ``clients`` extra (``pip install 'plugwork[clients]'``, httpx2). See docs/clients.md.
"""

from .config import RestAPIConfig
from .rest import RestAPIService, retry_after_seconds
from .urls import safe_url

__all__ = ["RestAPIConfig", "RestAPIService", "retry_after_seconds", "safe_url"]
