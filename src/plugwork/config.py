"""Settings: environment (``PLUGWORK_`` prefix and the seed projects' names), ``.env``, and a YAML file.

Precedence, highest first: explicit overrides, the environment, the ``.env`` file, the YAML file, the
defaults. The YAML file may refer to environment variables as ``${VAR}`` (an error if ``VAR`` is unset)
or ``${VAR:-default}``; ``$${`` escapes a literal ``${``. Every problem becomes a
:class:`~plugwork.errors.ConfigError` whose message starts with the key at fault.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from plugwork.configfile import interpolate, read_yaml_mapping
from plugwork.errors import ConfigError

__all__ = [
    "PluginSettings",
    "ServiceSection",
    "Settings",
    "env_names",
    "interpolate",
    "load_plugin_settings",
    "load_settings",
    "read_config_file",
    "service_config",
]

ENV_PREFIX = "PLUGWORK_"
CONFIG_FILE_ENV = "PLUGWORK_CONFIG"
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def env_names(field: str, *seed_names: str) -> AliasChoices:
    """Env names for a field: ``PLUGWORK_<FIELD>`` first, so it wins over the seed projects' names.

    Use it as ``Field(..., validation_alias=env_names("database_url", "PYMODULES_DB_URL"))``.
    """
    return AliasChoices(f"{ENV_PREFIX}{field.upper()}", *seed_names)


_names = env_names


class ServiceSection(BaseModel):
    """One ``services.<name>:`` section: lifecycle switches plus the service's own settings.

    The extra keys are kept as given and validated later by the service's config model (see
    :func:`service_config`).
    """

    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    autostart: bool = True


class Settings(BaseSettings):
    """Everything a Plugwork app can be configured with. Load it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    # identity
    name: str = Field("plugwork", min_length=1, validation_alias=_names("name", "MICROSERVICE_NAME"))
    environment: str = Field("development", validation_alias=_names("environment", "ENVIRONMENT"))
    version: str = Field("0.0.0", validation_alias=_names("version", "SERVICE_VERSION"))

    # HTTP transport
    http_host: str = Field("127.0.0.1", validation_alias=_names("http_host", "HTTP_HOST"))
    http_port: int = Field(8000, ge=0, le=65535, validation_alias=_names("http_port", "HTTP_PORT"))
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    # connection limits (plugwork.http.limits): the request line and headers, their time and the body's,
    # idle connections, the drain of a body still arriving after an early answer (a 413), a client that
    # stops reading its answer
    http_max_header_bytes: int = Field(64 * 1024, gt=0)
    http_header_timeout_seconds: float = Field(10.0, gt=0)
    http_body_timeout_seconds: float = Field(30.0, gt=0)
    http_keep_alive_seconds: float = Field(5.0, gt=0)
    http_linger_bytes: int = Field(64 * 1024 * 1024, ge=0)
    http_linger_seconds: float = Field(5.0, ge=0)
    http_send_timeout_seconds: float = Field(30.0, gt=0)

    # modes and logging
    dev_mode: bool = Field(False, validation_alias=_names("dev_mode", "DEV_MODE"))
    debug: bool = Field(False, validation_alias=_names("debug", "DEBUG"))
    log_json: bool = Field(False, validation_alias=_names("log_json", "LOG_CONSOLE_JSON"))
    log_level: str = Field("INFO", validation_alias=_names("log_level", "LOG_LEVEL"))

    # the Processpype-style service management API
    management_api: bool = False
    management_token: SecretStr | None = None

    # job queue
    queue_url: str = "sqlite:///.plugwork/jobs.db"
    worker: bool = True
    max_concurrent_jobs: int = Field(
        10, ge=1, validation_alias=_names("max_concurrent_jobs", "MAX_CONCURRENT_JOBS")
    )
    job_timeout_seconds: float = Field(
        300.0, gt=0, validation_alias=_names("job_timeout_seconds", "JOB_TIMEOUT_SECONDS")
    )
    shutdown_timeout_seconds: float = Field(
        60.0, ge=0, validation_alias=_names("shutdown_timeout_seconds", "SHUTDOWN_TIMEOUT_SECONDS")
    )
    polling_interval_seconds: float = Field(
        1.0, gt=0, validation_alias=_names("polling_interval_seconds", "POLLING_INTERVAL_SECONDS")
    )
    # NoDecode: the validator below takes both JSON and "a,b,c" from the environment.
    # None: every queue the app's actions declare (and "default").
    queues: Annotated[list[str] | None, NoDecode] = Field(None, min_length=1)
    queue_retention_seconds: float | None = Field(None, gt=0)
    queue_auto_migrate: bool = True

    # Plugboard
    plugboard_url: str | None = Field(None, validation_alias=_names("plugboard_url", "WEBSOCKET_URL"))
    plugboard_token: SecretStr | None = Field(None, validation_alias=_names("plugboard_token", "TOKEN"))
    plugboard_protocol: Literal["1.0.0", "2.0.0"] = "1.0.0"
    plugboard_max_in_flight: int = Field(64, ge=1)

    # actions
    action_timeout_seconds: float | None = Field(None, gt=0)

    services: dict[str, ServiceSection] = Field(default_factory=dict)
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Each plugin's own section, validated by the plugin's settings model (``plugins.<name>:``)."""

    @field_validator(
        "plugboard_url", "plugboard_token", "management_token", "action_timeout_seconds", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # "${TOKEN:-}" in YAML or an empty .env entry means "not set", not "the empty string".
        return None if value == "" else value

    @field_validator("services", "plugins", mode="before")
    @classmethod
    def _empty_sections(cls, value: Any) -> Any:
        # "services:" or "db:" with nothing under it in YAML means "all defaults".
        if value is None:
            return {}
        if isinstance(value, dict):
            return {name: {} if section is None else section for name, section in value.items()}
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            level = value.strip().upper()
            level = "WARNING" if level == "WARN" else level
            if level not in _LOG_LEVELS:
                raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}, not {value!r}")
            return level
        return value

    @field_validator("queues", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    return json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not a JSON list: {exc}") from exc
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("queues")
    @classmethod
    def _no_blank_queue(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not name.strip() for name in value):
            raise ValueError("queue names must not be blank")
        return value

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        given = self.model_fields_set
        if self.debug and "log_level" not in given:
            self.log_level = "DEBUG"
        if self.dev_mode and "queue_url" not in given:
            self.queue_url = "memory://"
        if self.management_api and (
            self.management_token is None or not self.management_token.get_secret_value()
        ):
            raise ValueError("management_token: required when management_api is enabled")
        return self

    @property
    def log_level_number(self) -> int:
        """``log_level`` as a :mod:`logging` level number."""
        return logging.getLevelNamesMapping()[self.log_level]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Overrides, environment, ``.env``, then the YAML file being loaded by :func:`load_settings`."""
        return (
            _ByFieldName(settings_cls, init_settings),
            _ByFieldName(settings_cls, env_settings),
            _ByFieldName(settings_cls, dotenv_settings),
            _ContextLayer(settings_cls, _yaml_values),
        )


# --- sources ------------------------------------------------------------------------------------------------


def _field_keys(model: type[BaseModel]) -> dict[str, str]:
    """Every accepted input name of every field, lower-cased, mapped to the field's name."""
    keys: dict[str, str] = {}
    for field_name, info in model.model_fields.items():
        keys[field_name.lower()] = field_name
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            keys.update({str(choice).lower(): field_name for choice in alias.choices})
        elif isinstance(alias, str):
            keys[alias.lower()] = field_name
    return keys


_FIELD_KEYS = _field_keys(Settings)


class _ByFieldName(PydanticBaseSettingsSource):
    """Re-keys a source's values by field name, whichever env name supplied them.

    pydantic-settings keys each value by the name it was found under. Two sources answering under two
    names of one field (``HTTP_PORT`` in the environment, ``PLUGWORK_HTTP_PORT`` in ``.env``) would then
    be picked by alias order, not by source priority; under one key, the usual deep merge decides. Error
    locations name the field too.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._inner = inner

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self._inner._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self._inner._set_settings_sources_data(states)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {_FIELD_KEYS.get(key.lower(), key): value for key, value in self._inner().items()}

    def __repr__(self) -> str:
        return f"_ByFieldName({self._inner!r})"


_yaml_values: ContextVar[dict[str, Any] | None] = ContextVar("plugwork_yaml_settings", default=None)


class _ContextLayer(PydanticBaseSettingsSource):
    """The values a loader put in a context variable for the call in progress (a YAML file or section,
    a plugin's overrides), keyed by field name."""

    def __init__(self, settings_cls: type[BaseSettings], layer: ContextVar[dict[str, Any] | None]) -> None:
        super().__init__(settings_cls)
        self._layer = layer

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (self._layer.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._layer.get() or {})


@contextmanager
def _yaml_layer(values: dict[str, Any]) -> Iterator[None]:
    token = _yaml_values.set(values)
    try:
        yield
    finally:
        _yaml_values.reset(token)


def read_config_file(path: str | Path, variables: Mapping[str, str]) -> dict[str, Any]:
    """Read a YAML settings file, interpolated with ``variables``, checking its top-level keys."""
    data = read_yaml_mapping(path)
    _check_keys(data, f"unknown setting in {Path(path).expanduser()}")
    values = interpolate(data, variables)
    assert isinstance(values, dict)
    return values


def _check_keys(values: Mapping[Any, Any], problem: str) -> None:
    for key in values:
        if key not in Settings.model_fields:
            raise ConfigError(problem, key=str(key))


# --- loading ------------------------------------------------------------------------------------------------


def load_settings(
    config_file: str | Path | None = None,
    *,
    env_file: str | Path | None = ".env",
    **overrides: Any,
) -> Settings:
    """Load :class:`Settings`: ``overrides`` > environment > ``env_file`` > YAML ``config_file`` > defaults.

    Without ``config_file``, the ``PLUGWORK_CONFIG`` variable (environment, then ``env_file``) names the
    YAML file, if set. ``${VAR}`` in the YAML file is looked up in the environment, then in ``env_file``.
    Overrides use field names; ``None`` values are ignored so CLI options left unset fall through.
    """
    overrides = {key: value for key, value in overrides.items() if value is not None}
    _check_keys(overrides, "unknown setting")
    dotenv = _read_dotenv(env_file)
    variables: dict[str, str] = {**dotenv, **os.environ}
    if config_file is None:
        config_file = variables.get(CONFIG_FILE_ENV) or None
    yaml_values = read_config_file(config_file, variables) if config_file is not None else {}
    try:
        with _yaml_layer(yaml_values):
            return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        sources = [
            _Source(overrides, "override {}", by_field_name=True),
            _Source(os.environ, "environment variable {}"),
            _Source(dotenv, f"{{}} in {env_file}"),
            _Source(yaml_values, f"{{}} in {config_file}", by_field_name=True),
        ]
        raise config_error(exc, origin=lambda field: _origin(field, sources)) from None
    except SettingsError as exc:
        # A structured value (the services map) that is not valid JSON in the environment or .env.
        field = _SETTINGS_ERROR_FIELD.search(str(exc))
        detail = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"{exc}{detail}", key=field.group(1) if field else None) from None


_SETTINGS_ERROR_FIELD = re.compile(r'field "([^"]+)"')


class _Source(NamedTuple):
    values: Mapping[str, Any]
    label: str
    by_field_name: bool = False


def _env_names(field: str) -> list[str]:
    """The names a field is read under from the environment, in lookup order."""
    alias = Settings.model_fields[field].validation_alias
    names = [str(choice) for choice in alias.choices] if isinstance(alias, AliasChoices) else []
    return names or [f"{ENV_PREFIX}{field.upper()}"]


def _origin(field: str, sources: list[_Source]) -> str | None:
    """Where the winning value of ``field`` came from, so that the error points at what to fix."""
    if field not in Settings.model_fields:
        return None
    for source in sources:
        if source.by_field_name:
            if field in source.values:
                return source.label.format(field)
            continue
        present = {key.lower(): key for key in source.values}
        for name in _env_names(field):
            if name.lower() in present:
                return source.label.format(present[name.lower()])
    return None


def _read_dotenv(env_file: str | Path | None) -> dict[str, str]:
    if env_file is None or not Path(env_file).is_file():
        return {}
    return {key: value for key, value in dotenv_values(env_file).items() if value is not None}


def config_error(
    exc: ValidationError, prefix: str = "", origin: Callable[[str], str | None] | None = None
) -> ConfigError:
    """One ConfigError for a ValidationError: the first problem's key, every problem in the message."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        # A model-level check reports its own key as "key: message".
        key_in_message, sep, rest = message.partition(": ")
        if not loc and sep and key_in_message.isidentifier():
            loc, message = key_in_message, rest
        where = origin(str(error["loc"][0])) if origin and error["loc"] else None
        if where:
            message = f"{message} (from {where})"
        problems.append((f"{prefix}{loc}" if loc else prefix.rstrip("."), message))
    key, first = problems[0]
    more = "".join(f"; {k}: {m}" for k, m in problems[1:])
    return ConfigError(first + more, key=key or None)


def service_config(
    settings: Settings, name: str, model: type[BaseModel] | None
) -> tuple[ServiceSection, BaseModel | None]:
    """The ``services.<name>`` section and its own settings validated with ``model``.

    A service without a section gets the defaults (enabled, autostart) and ``model()``. Keys in the
    section that no config model will read are an error, like any invalid value; both name the key as
    ``services.<name>.<field>``.
    """
    section = settings.services.get(name) or ServiceSection()
    extra = dict(section.model_extra or {})
    if model is None:
        if extra:
            raise ConfigError("the service takes no settings", key=f"services.{name}.{next(iter(extra))}")
        return section, None
    try:
        return section, model.model_validate(extra)
    except ValidationError as exc:
        raise config_error(exc, prefix=f"services.{name}.") from None


# --- plugin settings ----------------------------------------------------------------------------------------


class PluginSettings(BaseSettings):
    """Base of a plugin's own settings model (see :class:`plugwork.plugins.Plugin`).

    Fields are read from ``PLUGWORK_<FIELD>`` (and any ``validation_alias`` names, for the seed projects'
    variables), the ``.env`` file and the plugin's ``plugins.<name>:`` YAML section. Precedence, highest
    first: the plugin's constructor keywords, the environment, ``.env``, the YAML section, the defaults.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",  # .env holds other models' variables too; YAML keys are checked by the loader
        validate_by_name=True,
        validate_by_alias=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords, overrides, environment, ``.env``, then the YAML section (passed in by the loader)."""
        return (
            init_settings,
            _ContextLayer(settings_cls, _plugin_overrides),
            env_settings,
            dotenv_settings,
            _ContextLayer(settings_cls, _plugin_section),
        )


_plugin_overrides: ContextVar[dict[str, Any] | None] = ContextVar("plugwork_plugin_overrides", default=None)
_plugin_section: ContextVar[dict[str, Any] | None] = ContextVar("plugwork_plugin_section", default=None)


def load_plugin_settings(
    model: type[BaseModel], name: str, settings: Settings, overrides: Mapping[str, Any] | None = None
) -> BaseModel:
    """Validate plugin ``name``'s settings with ``model``; errors name ``plugins.<name>.<key>``.

    A plain :class:`~pydantic.BaseModel` reads only the YAML section and the overrides; a
    :class:`PluginSettings` reads the environment and ``.env`` too.
    """
    section = dict(settings.plugins.get(name) or {})
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    known = _field_keys(model)
    for where, values in (("plugins", section), ("override", given)):
        for key in values:
            if str(key).lower() not in known:
                raise ConfigError(f"unknown setting ({where})", key=f"plugins.{name}.{key}")
    section = {known[str(k).lower()]: v for k, v in section.items()}
    given = {known[str(k).lower()]: v for k, v in given.items()}
    try:
        if issubclass(model, PluginSettings):
            token_o, token_s = _plugin_overrides.set(given), _plugin_section.set(section)
            try:
                return model()
            finally:
                _plugin_overrides.reset(token_o)
                _plugin_section.reset(token_s)
        return model.model_validate({**section, **given})
    except ValidationError as exc:
        raise config_error(exc, prefix=f"plugins.{name}.") from None
    except SettingsError as exc:
        raise ConfigError(str(exc), key=f"plugins.{name}") from None
