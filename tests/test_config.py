"""Settings: env prefix and seed aliases, precedence, YAML with ${VAR}, service sections, precise errors."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from plugwork.config import ServiceSection, Settings, load_settings, service_config
from plugwork.errors import ConfigError


def _all_env_names() -> set[str]:
    names = {"PLUGWORK_CONFIG"}
    for field, info in Settings.model_fields.items():
        names.add(f"PLUGWORK_{field.upper()}")
        choices = getattr(info.validation_alias, "choices", ())
        names.update(str(choice).upper() for choice in choices)
    return names


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the machine running the tests, and no stray .env is read."""
    names = _all_env_names()
    for key in list(os.environ):
        if key.upper() in names or key.upper().startswith("PLUGWORK_SERVICES__"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert (s.name, s.environment, s.version) == ("plugwork", "development", "0.0.0")
    assert (s.http_host, s.http_port, s.max_body_bytes) == ("127.0.0.1", 8000, 1024 * 1024)
    assert (s.dev_mode, s.debug, s.log_json, s.log_level) == (False, False, False, "INFO")
    assert (s.management_api, s.management_token) == (False, None)
    assert s.queue_url == "sqlite:///.plugwork/jobs.db"
    assert s.worker is True
    assert (s.max_concurrent_jobs, s.job_timeout_seconds) == (10, 300.0)
    assert (s.shutdown_timeout_seconds, s.polling_interval_seconds) == (60.0, 1.0)
    assert s.queues is None  # every queue the app's actions declare
    assert (s.plugboard_url, s.plugboard_token) == (None, None)
    assert (s.plugboard_protocol, s.plugboard_max_in_flight) == ("1.0.0", 64)
    assert s.action_timeout_seconds is None
    assert s.services == {}
    assert s.log_level_number == 20


def test_prefixed_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGWORK_HTTP_PORT", "9100")
    monkeypatch.setenv("PLUGWORK_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("PLUGWORK_WORKER", "false")
    monkeypatch.setenv("PLUGWORK_PLUGBOARD_PROTOCOL", "2.0.0")
    monkeypatch.setenv("PLUGWORK_ACTION_TIMEOUT_SECONDS", "2.5")
    s = load_settings()
    assert (s.http_port, s.max_body_bytes, s.worker) == (9100, 2048, False)
    assert (s.plugboard_protocol, s.action_timeout_seconds) == ("2.0.0", 2.5)


@pytest.mark.parametrize(
    ("env_name", "raw", "field", "expected"),
    [
        ("MICROSERVICE_NAME", "billing", "name", "billing"),
        ("ENVIRONMENT", "production", "environment", "production"),
        ("SERVICE_VERSION", "1.2.3", "version", "1.2.3"),
        ("HTTP_HOST", "0.0.0.0", "http_host", "0.0.0.0"),
        ("HTTP_PORT", "8080", "http_port", 8080),
        ("DEV_MODE", "true", "dev_mode", True),
        ("DEBUG", "1", "debug", True),
        ("LOG_CONSOLE_JSON", "true", "log_json", True),
        ("LOG_LEVEL", "warning", "log_level", "WARNING"),
        ("MAX_CONCURRENT_JOBS", "3", "max_concurrent_jobs", 3),
        ("JOB_TIMEOUT_SECONDS", "12.5", "job_timeout_seconds", 12.5),
        ("SHUTDOWN_TIMEOUT_SECONDS", "5", "shutdown_timeout_seconds", 5.0),
        ("POLLING_INTERVAL_SECONDS", "0.25", "polling_interval_seconds", 0.25),
        ("WEBSOCKET_URL", "ws://hub:4000/socket", "plugboard_url", "ws://hub:4000/socket"),
    ],
)
def test_seed_environment_names(
    monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(env_name, raw)
    assert getattr(load_settings(), field) == expected


def test_seed_token_name_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "s3cret")
    s = load_settings()
    assert s.plugboard_token is not None
    assert s.plugboard_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


def test_prefixed_name_beats_seed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "1111")
    monkeypatch.setenv("PLUGWORK_HTTP_PORT", "2222")
    assert load_settings().http_port == 2222


def test_empty_environment_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "")
    assert load_settings().http_port == 8000


def test_precedence_override_env_dotenv_yaml_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path / "plugwork.yaml", "http_port: 1001\nname: from-yaml\n")
    assert load_settings(config).http_port == 1001
    write(tmp_path / ".env", "PLUGWORK_HTTP_PORT=1002\n")
    assert load_settings(config).http_port == 1002
    monkeypatch.setenv("PLUGWORK_HTTP_PORT", "1003")
    assert load_settings(config).http_port == 1003
    s = load_settings(config, http_port=1004)
    assert s.http_port == 1004
    assert s.name == "from-yaml"  # fields not given higher up still come from the YAML file
    # None overrides (CLI options left unset) fall through
    assert load_settings(config, http_port=None).http_port == 1003


def test_environment_beats_dotenv_across_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Different names of one field in two sources: the source's priority decides, not the name's.
    write(tmp_path / ".env", "PLUGWORK_HTTP_PORT=1002\nMICROSERVICE_NAME=dotenv-name\n")
    monkeypatch.setenv("HTTP_PORT", "1003")
    s = load_settings()
    assert s.http_port == 1003
    assert s.name == "dotenv-name"


def test_explicit_env_file_and_none(tmp_path: Path) -> None:
    env_file = write(tmp_path / "custom.env", "PLUGWORK_NAME=custom\n")
    write(tmp_path / ".env", "PLUGWORK_NAME=default-dotenv\n")
    assert load_settings(env_file=env_file).name == "custom"
    assert load_settings(env_file=None).name == "plugwork"
    assert load_settings().name == "default-dotenv"


def test_yaml_variables_defaults_and_typing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SVC_NAME", "orders")
    config = write(
        tmp_path / "c.yaml",
        "name: ${SVC_NAME}\n"
        "http_port: ${PORT:-8123}\n"
        "environment: pre-${STAGE:-dev}-post\n"
        "http_host: $${NOT_A_VAR}\n"
        "debug: ${DEBUG_FLAG:-true}\n",
    )
    s = load_settings(config)
    assert s.name == "orders"
    assert s.http_port == 8123
    assert s.environment == "pre-dev-post"
    assert s.http_host == "${NOT_A_VAR}"
    assert s.debug is True
    monkeypatch.setenv("PORT", "9001")
    assert load_settings(config).http_port == 9001


def test_yaml_variable_from_dotenv(tmp_path: Path) -> None:
    write(tmp_path / ".env", "SVC_NAME=from-dotenv\n")
    config = write(tmp_path / "c.yaml", "name: ${SVC_NAME}\n")
    assert load_settings(config).name == "from-dotenv"


def test_yaml_unset_variable_names_key_and_variable(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "services:\n  db:\n    url: postgres://${DB_HOST}/app\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "services.db.url"
    assert str(caught.value).startswith("services.db.url: ")
    assert "DB_HOST" in str(caught.value)


def test_yaml_malformed_reference(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "name: ${not valid}\n")
    with pytest.raises(ConfigError, match=r"^name: invalid variable reference"):
        load_settings(config)


def test_yaml_unknown_key_and_bad_shape(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "a.yaml", "htp_port: 80\n"))
    assert caught.value.key == "htp_port"
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_settings(write(tmp_path / "b.yaml", "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path / "c.yaml", "name: [unclosed\n"))
    with pytest.raises(ConfigError, match="cannot read") as missing:
        load_settings(tmp_path / "missing.yaml")
    assert missing.value.key == "config_file"
    assert load_settings(write(tmp_path / "empty.yaml", "")).name == "plugwork"


def test_config_file_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "name: named-by-env\n")
    monkeypatch.setenv("PLUGWORK_CONFIG", str(config))
    assert load_settings().name == "named-by-env"
    other = write(tmp_path / "d.yaml", "name: explicit\n")
    assert load_settings(other).name == "explicit"


def test_bad_environment_value_names_key_and_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.key == "http_port"
    message = str(caught.value)
    assert message.startswith("http_port: Input should be a valid integer")
    assert "environment variable HTTP_PORT" in message


def test_bad_yaml_value_names_key_and_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", "max_concurrent_jobs: 0\nplugboard_protocol: '3.0'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.key == "max_concurrent_jobs"
    message = str(caught.value)
    assert message.startswith("max_concurrent_jobs: Input should be greater than or equal to 1")
    assert "c.yaml" in message
    assert "plugboard_protocol: " in message  # every problem is reported, not just the first


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(htp_port=1)
    assert caught.value.key == "htp_port"


def test_bad_log_level() -> None:
    with pytest.raises(ConfigError, match=r"^log_level: .*must be one of"):
        load_settings(log_level="LOUD")
    assert load_settings(log_level="warn").log_level == "WARNING"


def test_debug_lowers_default_log_level_only() -> None:
    assert load_settings(debug=True).log_level == "DEBUG"
    assert load_settings(debug=True, log_level="INFO").log_level == "INFO"


def test_dev_mode_queue_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_MODE", "true")
    assert load_settings().queue_url == "memory://"
    assert load_settings(queue_url="sqlite:///x.db").queue_url == "sqlite:///x.db"
    monkeypatch.setenv("DEV_MODE", "false")
    assert load_settings().queue_url == "sqlite:///.plugwork/jobs.db"


def test_management_api_needs_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(management_api=True)
    assert caught.value.key == "management_token"
    monkeypatch.setenv("PLUGWORK_MANAGEMENT_TOKEN", "t0ken")
    s = load_settings(management_api=True)
    assert s.management_token is not None
    assert s.management_token.get_secret_value() == "t0ken"


def test_queues_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGWORK_QUEUES", "high, default ,low")
    assert load_settings().queues == ["high", "default", "low"]
    monkeypatch.setenv("PLUGWORK_QUEUES", '["a", "b"]')
    assert load_settings().queues == ["a", "b"]


class DatabaseConfig(BaseModel):
    url: str
    pool_size: int = Field(5, ge=1)


SERVICES_YAML = """
services:
  db:
    url: ${DB_URL:-sqlite:///app.db}
    pool_size: "8"
  cache:
    enabled: false
    autostart: false
  mailer:
"""


def test_service_sections(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path / "c.yaml", SERVICES_YAML))
    section, config = service_config(s, "db", DatabaseConfig)
    assert (section.enabled, section.autostart) == (True, True)
    assert config == DatabaseConfig(url="sqlite:///app.db", pool_size=8)
    cache, none = service_config(s, "cache", None)
    assert (cache.enabled, cache.autostart, none) == (False, False, None)
    mailer, _ = service_config(s, "mailer", None)
    assert mailer == ServiceSection()


def test_service_without_section_gets_defaults() -> None:
    class Optional_(BaseModel):
        retries: int = 3

    section, config = service_config(load_settings(), "absent", Optional_)
    assert section.enabled and section.autostart
    assert config == Optional_(retries=3)


def test_service_config_errors_name_the_key(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path / "c.yaml", "services:\n  db:\n    url: x\n    pool_size: none\n"))
    with pytest.raises(ConfigError) as caught:
        service_config(s, "db", DatabaseConfig)
    assert caught.value.key == "services.db.pool_size"
    assert str(caught.value).startswith("services.db.pool_size: Input should be a valid integer")

    s = load_settings(write(tmp_path / "d.yaml", "services:\n  db:\n    pool_size: 2\n"))
    with pytest.raises(ConfigError) as missing:
        service_config(s, "db", DatabaseConfig)
    assert missing.value.key == "services.db.url"

    with pytest.raises(ConfigError) as unread:
        service_config(s, "db", None)
    assert unread.value.key == "services.db.pool_size"


def test_service_section_from_environment_merges_with_yaml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PLUGWORK_SERVICES__DB__POOL_SIZE", "20")
    s = load_settings(write(tmp_path / "c.yaml", SERVICES_YAML))
    _, config = service_config(s, "db", DatabaseConfig)
    assert config == DatabaseConfig(url="sqlite:///app.db", pool_size=20)
    assert not s.services["cache"].enabled


def test_bad_service_switch_names_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "c.yaml", "services:\n  db:\n    enabled: perhaps\n"))
    assert caught.value.key == "services.db.enabled"


def test_settings_accept_field_names_directly() -> None:
    s = Settings(http_port=1234, dev_mode=True, _env_file=None)  # type: ignore[call-arg]
    assert (s.http_port, s.queue_url) == (1234, "memory://")


def test_malformed_structured_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGWORK_SERVICES", "{not json")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.key == "services"
    monkeypatch.delenv("PLUGWORK_SERVICES")
    monkeypatch.setenv("PLUGWORK_QUEUES", "[unclosed")
    with pytest.raises(ConfigError, match=r"^queues: not a JSON list"):
        load_settings()


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    rows = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        rows.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    config = write(tmp_path / "bomb.yaml", "services:\n  s:\n" + "".join(f"    {row}\n" for row in rows))
    with pytest.raises(ConfigError, match="too large"):
        load_settings(config)


def _documented_settings() -> set[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    table = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))


def test_every_setting_is_documented_and_every_documented_setting_exists() -> None:
    assert _documented_settings() == set(Settings.model_fields)


# Settings that act inside config.py itself (a derived default), with the test that shows it.
_ACT_IN_CONFIG = {"debug": "test_debug_lowers_default_log_level_only"}


def test_every_setting_is_read_by_the_code_it_configures() -> None:
    # A documented setting that nothing reads does nothing: it must not exist.
    src = Path(__file__).resolve().parent.parent / "src" / "plugwork"
    code = "\n".join(p.read_text() for p in src.rglob("*.py") if p.name != "config.py")
    unread = [
        name
        for name in Settings.model_fields
        if name not in _ACT_IN_CONFIG and not re.search(rf"settings(\(\))?\.{name}\b", code)
    ]
    assert unread == []
    assert all(test in globals() for test in _ACT_IN_CONFIG.values())
