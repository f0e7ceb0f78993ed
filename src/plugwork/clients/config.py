""":class:`RestAPIConfig`: the usvc-lib option names and defaults, plus Plugwork's bounds on every wait."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RestAPIConfig(BaseModel):
    """How one upstream HTTP API is called: rate limit, circuit breaker, timeouts, retries and pool size.

    The upper-case names and defaults are usvc-lib's. Keys are matched case-insensitively, so the section
    ``services.<name>:`` in YAML and ``PLUGWORK_SERVICES__<NAME>__BASE_URL`` in the environment (which
    arrives lower-cased) both set ``BASE_URL``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    BASE_URL: str = Field("http://localhost:8000", min_length=1, description="Base URL for the API")
    RATE_LIMIT_REQUESTS: int = Field(100, ge=1, description="Max requests per window")
    RATE_LIMIT_WINDOW_SECONDS: float = Field(60.0, gt=0, description="Rate limit window duration")
    CB_FAILURE_THRESHOLD: int = Field(5, ge=1, description="Failures before the circuit opens")
    CB_RECOVERY_TIMEOUT: float = Field(30.0, ge=0, description="Seconds before OPEN -> HALF_OPEN")
    CB_SUCCESS_THRESHOLD: int = Field(2, ge=1, description="Successes in HALF_OPEN to close")
    REQUEST_TIMEOUT_SECONDS: float = Field(30.0, gt=0, description="Per-request timeout")
    MAX_RETRIES: int = Field(3, ge=0, description="Retry attempts for 5xx/429/timeout/connect errors")
    RETRY_BACKOFF_BASE: float = Field(1.0, ge=0, description="Exponential backoff base (seconds)")
    CONNECTION_POOL_SIZE: int = Field(10, ge=1, description="Connection pool size")

    # Plugwork's additions: every wait and every body has a bound.
    RETRY_BACKOFF_MAX: float = Field(30.0, ge=0, description="Cap on one backoff delay (seconds)")
    RETRY_AFTER_MAX_SECONDS: float = Field(60.0, ge=0, description="Cap on an honoured Retry-After")
    RATE_LIMIT_MAX_WAIT_SECONDS: float = Field(
        30.0, ge=0, description="Longest wait for the rate limit before RATE_LIMITED"
    )
    RETRY_NON_IDEMPOTENT: bool = Field(
        False, description="Also retry POST/PATCH after a response or a timeout (connect errors always are)"
    )
    MAX_RESPONSE_BYTES: int = Field(10 * 1024 * 1024, gt=0, description="Largest response body read")

    @model_validator(mode="before")
    @classmethod
    def _upper_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k.upper() if isinstance(k, str) else k: v for k, v in value.items()}
        return value
