"""The auth settings: ``PLUGWORK_JWT_*`` / ``PLUGWORK_AUTH_*`` and PyModules' ``PYMODULES_JWT_*`` names.

The accepted algorithms come from here only, never from a token's header. A symmetric algorithm (HS*)
needs ``jwt_secret``; the asymmetric ones (RS*, PS*, ES*, EdDSA) need ``jwt_public_key`` or
``jwt_jwks_url`` — and mixing the two families is refused, which rules out HS/RS key confusion by
construction.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from ..config import PluginSettings

SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_BYTES = 8192


def _jwt(field: str) -> AliasChoices:
    # PLUGWORK_JWT_<X>, then PyModules' PYMODULES_JWT_<X> (the YAML key is the field's name).
    return AliasChoices(f"PLUGWORK_JWT_{field.upper()}", f"PYMODULES_JWT_{field.upper()}")


def _auth(field: str) -> AliasChoices:
    return AliasChoices(f"PLUGWORK_AUTH_{field.upper()}")


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
    return value


class AuthSettings(PluginSettings):
    """Settings of the auth plugin (YAML section ``plugins.auth:``)."""

    jwt_secret: SecretStr | None = Field(None, validation_alias=_jwt("secret"))
    jwt_public_key: SecretStr | None = Field(None, validation_alias=_jwt("public_key"))
    """A PEM public key (RS*, PS*, ES*, EdDSA). Kept as a secret only so that it is never dumped whole."""
    jwt_private_key: SecretStr | None = Field(None, validation_alias=_jwt("private_key"))
    """A PEM private key, only to mint tokens (``plugwork auth token``, ``create_token``)."""
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(["HS256"], validation_alias=_jwt("algorithms"))
    jwt_issuer: str | None = Field(None, validation_alias=_jwt("issuer"))
    jwt_audience: Annotated[list[str], NoDecode] = Field([], validation_alias=_jwt("audience"))
    jwt_leeway_seconds: float = Field(0.0, ge=0, le=600, validation_alias=_jwt("leeway_seconds"))
    jwt_required_claims: Annotated[list[str], NoDecode] = Field(
        ["exp", "sub"], validation_alias=_jwt("required_claims")
    )
    jwt_jwks_url: str | None = Field(None, validation_alias=_jwt("jwks_url"))
    jwt_jwks_cache_seconds: float = Field(300.0, gt=0, validation_alias=_jwt("jwks_cache_seconds"))
    jwt_jwks_min_refetch_seconds: float = Field(30.0, ge=0, validation_alias=_jwt("jwks_min_refetch_seconds"))
    jwt_jwks_timeout_seconds: float = Field(5.0, gt=0, le=60, validation_alias=_jwt("jwks_timeout_seconds"))
    jwt_cache_size: int = Field(4096, ge=0, le=1_000_000, validation_alias=_jwt("cache_size"))
    """Verified tokens kept (by digest) so that a token sent again skips verification; 0 turns it off."""
    jwt_cache_seconds: float = Field(60.0, gt=0, le=3600, validation_alias=_jwt("cache_seconds"))
    """Longest a verified token stays cached (never past its ``exp``)."""
    jwt_expire_minutes: float = Field(60.0, gt=0, validation_alias=_jwt("expire_minutes"))
    """Lifetime of the tokens this service mints."""
    jwt_max_token_bytes: int = Field(
        MAX_TOKEN_BYTES, ge=256, le=65536, validation_alias=_jwt("max_token_bytes")
    )

    required: bool = Field(True, validation_alias=_auth("required"))
    """Every action needs a valid token unless ``public=True`` (one with permissions always does)."""
    trusted_transports: Annotated[list[str], NoDecode] = Field(
        ["call", "queue"], validation_alias=_auth("trusted_transports")
    )
    """Transports whose invocations come from the service's own code (``app.call``, jobs admitted at
    enqueue): they run without a token, with the carried identity if any."""
    identity_key: SecretStr | None = Field(None, validation_alias=_auth("identity_key"))
    """The key that signs the identity a job carries (shared by every process of the service). Default:
    derived from ``jwt_secret``; without either, jobs carry no identity (they were checked at enqueue)."""
    realm: str = Field("plugwork", validation_alias=_auth("realm"))

    @field_validator(
        "jwt_algorithms", "jwt_audience", "jwt_required_claims", "trusted_transports", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @model_validator(mode="after")
    def _coherent(self) -> AuthSettings:
        algorithms = set(self.jwt_algorithms)
        unknown = algorithms - SYMMETRIC - ASYMMETRIC
        if unknown or not algorithms:
            raise ValueError(
                f"jwt_algorithms: {', '.join(sorted(unknown)) or 'empty'} is not allowed"
                f" (choose from {', '.join(sorted(SYMMETRIC | ASYMMETRIC))})"
            )
        if algorithms & SYMMETRIC and algorithms & ASYMMETRIC:
            raise ValueError("jwt_algorithms: HS* and public-key algorithms cannot be mixed (key confusion)")
        if (
            algorithms & SYMMETRIC
            and self.jwt_secret is not None
            and len(self.jwt_secret.get_secret_value()) < 32
        ):
            raise ValueError("jwt_secret: at least 32 characters are required for HS* algorithms")
        return self

    @property
    def symmetric(self) -> bool:
        """Whether the accepted algorithms are the HS* family."""
        return bool(set(self.jwt_algorithms) & SYMMETRIC)

    @property
    def configured(self) -> bool:
        """Whether a key to verify tokens with is set."""
        if self.symmetric:
            return self.jwt_secret is not None
        return self.jwt_public_key is not None or self.jwt_jwks_url is not None
