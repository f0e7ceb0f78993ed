"""Plugwork: write an action once — a typed function or class — and serve it over HTTP, a durable job
queue and WebSocket RPC through a Plugboard hub, with services, DI, health, metrics and tracing built in.
"""

from .actions import Action, ActionResponse, ActionRunner, action
from .app import App, AppState
from .carriers import Carrier
from .config import PluginSettings, Settings, load_settings
from .context import Context, get_context
from .dispatch import Dispatcher, ErrorInfo, Invocation, Middleware, Outcome
from .errors import (
    ActionError,
    CircuitOpen,
    ConfigError,
    DefinitionError,
    DependencyError,
    ErrorCode,
    Forbidden,
    InvalidInput,
    InvocationCancelled,
    InvocationTimeout,
    MissingDependency,
    NotFound,
    PlugworkError,
    ProtocolError,
    RateLimited,
    ServiceError,
    StoreError,
    Unauthorized,
    Unavailable,
    UnknownAction,
)
from .observability.health import HealthRegistry, HealthStatus
from .observability.logging import get_logger
from .plugins import AppInit, Plugin
from .services import Service, ServiceState

__all__ = [
    "Action",
    "ActionError",
    "ActionResponse",
    "ActionRunner",
    "App",
    "AppInit",
    "AppState",
    "Carrier",
    "CircuitOpen",
    "ConfigError",
    "Context",
    "DefinitionError",
    "DependencyError",
    "Dispatcher",
    "ErrorCode",
    "ErrorInfo",
    "Forbidden",
    "HealthRegistry",
    "HealthStatus",
    "InvalidInput",
    "Invocation",
    "InvocationCancelled",
    "InvocationTimeout",
    "Middleware",
    "MissingDependency",
    "NotFound",
    "Outcome",
    "Plugin",
    "PluginSettings",
    "PlugworkError",
    "ProtocolError",
    "RateLimited",
    "Service",
    "ServiceError",
    "ServiceState",
    "Settings",
    "StoreError",
    "Unauthorized",
    "Unavailable",
    "UnknownAction",
    "action",
    "get_context",
    "get_logger",
    "load_settings",
]
