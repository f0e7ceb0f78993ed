"""JWTAuthProvider: what it accepts, and every way a token must be refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from auth_keys import OTHER_SECRET, SECRET, hs_token, pem_pair
from pydantic import ValidationError

from plugwork.auth import AuthSettings, InvalidToken, JWTAuthProvider, TokenClaims


def provider(**settings: object) -> JWTAuthProvider:
    return JWTAuthProvider(AuthSettings(**{"jwt_secret": SECRET, **settings}))


async def test_a_valid_hs256_token_gives_its_claims() -> None:
    claims = await provider().verify(hs_token(permissions=["orders:write"], roles=["admin"], tenant="acme"))
    assert claims.sub == "alice" and claims.permissions == ("orders:write",)
    assert claims.roles == ("admin",) and claims.tenant == "acme" and claims.exp is not None


async def test_permissions_from_a_scope_string() -> None:
    claims = await provider().verify(hs_token(scope="orders:read orders:write"))
    assert claims.has("orders:read", "orders:write") and not claims.has("admin")


async def test_create_token_round_trips_with_issuer_and_audience() -> None:
    p = provider(jwt_issuer="https://id.example", jwt_audience="orders")
    token = await p.create_token({"sub": "bob", "permissions": ["a"]})
    claims = await p.validate_token(token)
    assert claims is not None and claims.sub == "bob" and claims.permissions == ("a",)
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], audience="orders")
    assert payload["iss"] == "https://id.example"


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("ec", "ES256"), ("ed25519", "EdDSA")])
async def test_public_key_algorithms(kind: str, alg: str) -> None:
    private, public = pem_pair(kind)
    p = JWTAuthProvider(AuthSettings(jwt_algorithms=[alg], jwt_public_key=public, jwt_private_key=private))
    token = p.mint({"sub": "svc"})
    assert (await p.verify(token)).sub == "svc"


def _forge_none(payload: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


async def _refused(p: JWTAuthProvider, token: str, reason: str | None = None) -> None:
    with pytest.raises(InvalidToken) as info:
        await p.verify(token)
    assert info.value.message == "Invalid or expired token"  # clients never learn more
    if reason is not None:
        assert reason in info.value.reason
    assert await p.validate_token(token) is None


async def test_alg_none_is_refused() -> None:
    await _refused(provider(), _forge_none({"sub": "root", "exp": int(time.time()) + 60}), "algorithm")


async def test_hs_rs_key_confusion_is_refused() -> None:
    _, public = pem_pair("rsa")
    p = JWTAuthProvider(AuthSettings(jwt_algorithms=["RS256"], jwt_public_key=public))
    # The classic attack: an HS256 token signed with the server's *public* key as the HMAC secret.
    forged = jwt.api_jws.PyJWS().encode(
        json.dumps({"sub": "root", "exp": int(time.time()) + 60}).encode(),
        key=b"x" * 32,
        algorithm="HS256",
    )
    await _refused(p, forged, "algorithm")
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(
        json.dumps({"sub": "root", "exp": int(time.time()) + 60}).encode()
    ).rstrip(b"=")
    import hashlib
    import hmac

    mac = hmac.new(public.encode(), header + b"." + body, hashlib.sha256).digest()
    token = (header + b"." + body + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    await _refused(p, token, "algorithm")


def test_mixing_hs_and_public_key_algorithms_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="cannot be mixed"):
        AuthSettings(jwt_algorithms=["HS256", "RS256"], jwt_secret=SECRET)
    with pytest.raises(ValidationError, match="not allowed"):
        AuthSettings(jwt_algorithms=["none"])
    with pytest.raises(ValidationError, match="32 characters"):
        AuthSettings(jwt_secret="short")


async def test_expired_and_not_yet_valid_are_refused_leeway_allows_skew() -> None:
    now = int(time.time())
    await _refused(provider(), hs_token(exp=now - 30), "expired")
    await _refused(provider(), hs_token(nbf=now + 30), "not yet valid")
    assert (await provider(jwt_leeway_seconds=60).verify(hs_token(exp=now - 30))).sub == "alice"


async def test_wrong_issuer_and_audience_are_refused() -> None:
    p = provider(jwt_issuer="https://id.example", jwt_audience="orders")
    ok = hs_token(iss="https://id.example", aud="orders")
    assert (await p.verify(ok)).sub == "alice"
    await _refused(p, hs_token(iss="https://id.example.evil", aud="orders"))
    await _refused(p, hs_token(iss="https://id.exampl", aud="orders"))  # no partial match (CVE-2024-53861)
    await _refused(p, hs_token(iss="https://id.example", aud="billing"))
    await _refused(p, hs_token(aud="orders"))  # issuer missing
    await _refused(provider(), hs_token(aud="orders"))  # an audience nobody configured


async def test_tampered_payload_and_wrong_key_are_refused() -> None:
    token = hs_token(permissions=["read"])
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["permissions"] = ["admin"]
    forged_payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    await _refused(provider(), f"{header}.{forged_payload}.{signature}")
    await _refused(provider(), hs_token(secret=OTHER_SECRET))
    await _refused(provider(), token[:-2])


async def test_required_claims_huge_and_garbage_tokens_are_refused() -> None:
    now = int(time.time())
    await _refused(provider(), jwt.encode({"sub": "a"}, SECRET, algorithm="HS256"))  # no exp
    await _refused(provider(), jwt.encode({"exp": now + 60}, SECRET, algorithm="HS256"))  # no sub
    await _refused(provider(), hs_token(blob="x" * 20000), "too large")
    await _refused(provider(), "not.a.token")
    await _refused(provider(), "")
    await _refused(provider(), hs_token(permissions={"not": "a list"}))


async def test_an_algorithm_outside_the_settings_is_refused_even_when_well_signed() -> None:
    await _refused(provider(), hs_token(alg="HS512"), "algorithm")
    assert (await provider(jwt_algorithms=["HS512"]).verify(hs_token(alg="HS512"))).sub == "alice"


def test_settings_read_the_pymodules_and_plugwork_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYMODULES_JWT_SECRET", OTHER_SECRET)
    monkeypatch.setenv("PYMODULES_JWT_ALGORITHMS", "HS384")
    monkeypatch.setenv("PLUGWORK_JWT_ISSUER", "me")
    monkeypatch.setenv("PLUGWORK_JWT_AUDIENCE", "a,b")
    s = AuthSettings()
    assert s.jwt_secret is not None and s.jwt_secret.get_secret_value() == OTHER_SECRET
    assert s.jwt_algorithms == ["HS384"] and s.jwt_issuer == "me" and s.jwt_audience == ["a", "b"]
    monkeypatch.setenv("PLUGWORK_JWT_SECRET", SECRET)
    assert AuthSettings().jwt_secret.get_secret_value() == SECRET  # type: ignore[union-attr]


def test_token_claims_are_a_model() -> None:
    claims = TokenClaims(sub="a", permissions=("x",))
    assert claims.to_context()["permissions"] == ["x"]


async def test_verified_tokens_are_cached_until_they_expire() -> None:
    p = provider(jwt_cache_seconds=60)
    now = int(time.time())
    token = hs_token(exp=now + 2)
    first = await p.verify(token)
    assert await p.verify(token) is first  # the cache answered
    p._cache[next(iter(p._cache))] = (first, time.time() - 1)  # as if the cached time had run out
    assert await p.verify(token) is not first  # verified again, not answered from the cache
    assert len(p._cache) == 1
    refused_twice = hs_token(exp=now - 30)
    await _refused(p, refused_twice)
    await _refused(p, refused_twice)  # refusals are never cached


async def test_the_cache_is_bounded_and_can_be_off() -> None:
    p = provider(jwt_cache_size=3)
    for i in range(10):
        await p.verify(hs_token(n=i))
    assert len(p._cache) == 3
    off = provider(jwt_cache_size=0)
    await off.verify(hs_token())
    assert off._cache == {}
