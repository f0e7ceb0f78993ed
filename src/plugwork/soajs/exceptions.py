"""The SOAJS errors, under Plugwork's one root, with soajs-python's names.

::

    PlugworkError
    ├── SOAJSError                      root of the SOAJS errors below
    │   ├── RegistryError               the registry API failed or answered an error (names URL and codes)
    │   ├── ServiceNotFoundError        also KeyError: the name is not in the registry
    │   ├── DatabaseNotFoundError       "
    │   ├── ResourceNotFoundError       "
    │   └── CustomNotFoundError         "
    ├── ConfigError
    │   └── ConfigValidationError       a service's SOAJS configuration is invalid (names the field)
    └── ActionError
        └── InjectHeaderError           400 BAD_REQUEST: a malformed or oversize ``soajsinjectobj``
"""

from __future__ import annotations

from ..errors import ActionError, ConfigError, ErrorCode, PlugworkError


class SOAJSError(PlugworkError):
    """Root of the SOAJS errors."""


class RegistryError(SOAJSError):
    """The registry could not be loaded or a registration failed.

    ``url`` is the registry API address (never carries a secret), ``codes`` the gateway's error codes.
    """

    def __init__(self, message: str, *, url: str = "", codes: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.url = url
        self.codes = codes


class _NotFound(SOAJSError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ServiceNotFoundError(_NotFound):
    """No service of that name in the registry."""


class DatabaseNotFoundError(_NotFound):
    """No database of that name in the registry."""


class ResourceNotFoundError(_NotFound):
    """No resource of that name in the registry."""


class CustomNotFoundError(_NotFound):
    """No custom registry entry of that name."""


class ConfigValidationError(ConfigError, SOAJSError):
    """A SOAJS service configuration is invalid; ``key`` names the field at fault."""


class InjectHeaderError(ActionError):
    """The ``soajsinjectobj`` header is malformed or too large (answered 400)."""

    code = ErrorCode.BAD_REQUEST
