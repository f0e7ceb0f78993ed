"""The JWKS cache (rotation, last good keys, rate-limited refetch), FastAPI's AuthMiddleware, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from auth_keys import ISSUER, SECRET, hs_token, pem_pair
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from plugwork.auth import (
    AuthMiddleware,
    AuthSettings,
    InvalidToken,
    JWKSCache,
    JWTAuthProvider,
    TokenClaims,
)
from plugwork.auth.carriers import IdentitySigner
from plugwork.cli import main

fastapi = pytest.importorskip("fastapi")  # the bench extra, installed by `make test`


def _jwk(public_pem: str, kid: str) -> dict[str, str]:
    rsa_alg = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_alg.prepare_key(public_pem)))
    return {**key, "kid": kid, "alg": "RS256", "use": "sig"}


class FakeIdP:
    """Serves a JWKS document; counts fetches; can fail."""

    def __init__(self, *keys: dict[str, str]) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    async def fetch(self) -> bytes:
        self.fetches += 1
        if self.down:
            raise OSError("identity provider down")
        return json.dumps({"keys": self.keys}).encode()


def _provider(idp: FakeIdP, **cache: float) -> JWTAuthProvider:
    settings = AuthSettings(jwt_algorithms=["RS256"], jwt_jwks_url="https://idp.example/jwks")
    jwks = JWKSCache(settings.jwt_jwks_url or "", algorithms=["RS256"], fetch=idp.fetch, **cache)  # type: ignore[arg-type]
    return JWTAuthProvider(settings, jwks=jwks)


def _sign(private_pem: str, kid: str, **claims: object) -> str:
    payload = {"sub": "svc", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(payload, private_pem, algorithm="RS256", headers={"kid": kid})


async def test_keys_by_kid_and_a_rotation_is_picked_up() -> None:
    private, public = pem_pair("rsa")
    idp = FakeIdP(_jwk(public, "k1"))
    p = _provider(idp, min_refetch_seconds=0)
    assert (await p.verify(_sign(private, "k1"))).sub == "svc"
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import serialization

    new_private = new_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    new_public = (
        new_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    idp.keys.append(_jwk(new_public, "k2"))
    assert (await p.verify(_sign(new_private, "k2"))).sub == "svc"
    assert idp.fetches == 2


async def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    private, public = pem_pair("rsa")
    idp = FakeIdP(_jwk(public, "k1"))
    p = _provider(idp, min_refetch_seconds=3600)
    await p.verify(_sign(private, "k1"))
    for i in range(20):
        with pytest.raises(InvalidToken):
            await p.verify(_sign(private, f"made-up-{i}"))
    assert idp.fetches == 1  # twenty made-up kids, no extra request to the identity provider


async def test_the_last_good_keys_survive_a_failed_refresh() -> None:
    private, public = pem_pair("rsa")
    idp = FakeIdP(_jwk(public, "k1"))
    p = _provider(idp, cache_seconds=0.01, min_refetch_seconds=0)
    await p.verify(_sign(private, "k1"))
    idp.down = True
    time.sleep(0.02)
    assert (await p.verify(_sign(private, "k1", n=2))).sub == "svc"  # a new token: not a cache hit
    assert idp.fetches == 2


async def test_a_jwks_key_does_not_verify_an_hs_token_made_with_it() -> None:
    _, public = pem_pair("rsa")
    p = _provider(FakeIdP(_jwk(public, "k1")))
    with pytest.raises(InvalidToken):
        await p.verify(jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, SECRET, headers={"kid": "k1"}))


def _fastapi_app(required: bool) -> object:
    from plugwork.auth import require_permissions

    app = fastapi.FastAPI()
    provider = JWTAuthProvider(AuthSettings(jwt_secret=SECRET, jwt_issuer=ISSUER))
    app.add_middleware(AuthMiddleware, provider=provider, required=required)

    @app.get("/me")
    async def me(request: fastapi.Request) -> dict[str, object]:
        claims = request.state.auth
        return {"sub": None if claims is None else claims.sub}

    @app.post("/orders")
    async def orders(
        claims: TokenClaims = fastapi.Depends(require_permissions("orders:write")),
    ) -> dict[str, str]:
        return {"by": claims.sub}

    return app


async def test_fastapi_auth_middleware() -> None:
    app = _fastapi_app(required=False)
    good = hs_token({"iss": ISSUER, "permissions": ["orders:write"]})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:  # type: ignore[arg-type]
        assert (await http.get("/me")).json() == {"sub": None}
        assert (await http.get("/me", headers={"Authorization": f"Bearer {good}"})).json() == {"sub": "alice"}
        bad = await http.get("/me", headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert (await http.post("/orders")).status_code == 401
        read_only = hs_token({"iss": ISSUER, "permissions": ["orders:read"]})
        assert (
            await http.post("/orders", headers={"Authorization": f"Bearer {read_only}"})
        ).status_code == 403
        ok = await http.post("/orders", headers={"Authorization": f"Bearer {good}"})
        assert ok.json() == {"by": "alice"}


async def test_fastapi_auth_middleware_required() -> None:
    app = _fastapi_app(required=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:  # type: ignore[arg-type]
        refused = await http.get("/me")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="api"'
        assert (await http.get("/docs")).status_code == 200  # excluded paths stay open


def test_cli_mints_a_token_the_provider_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUGWORK_JWT_SECRET", SECRET)
    monkeypatch.setenv("PLUGWORK_JWT_ISSUER", ISSUER)
    result = CliRunner().invoke(
        main,
        [
            "auth",
            "token",
            "--sub",
            "dev",
            "--permission",
            "orders:write",
            "--permission",
            "x",
            "--expires",
            "5m",
        ],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert payload["sub"] == "dev" and payload["permissions"] == ["orders:write", "x"]
    assert 290 <= payload["exp"] - payload["iat"] <= 300


def test_cli_without_a_key_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PLUGWORK_JWT_SECRET", "PYMODULES_JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["auth", "token", "--sub", "dev"])
    assert result.exit_code == 1 and "jwt_secret" in result.output


def test_identity_signatures() -> None:
    signer = IdentitySigner(b"k" * 32)
    value = signer.sign({"sub": "a", "permissions": ["p"]})
    assert signer.verify(value)["sub"] == "a"
    with pytest.raises(InvalidToken):
        IdentitySigner(b"j" * 32).verify(value)
    version, body, mac = value.split(".")
    with pytest.raises(InvalidToken):
        signer.verify(f"{version}.{body[:-2]}xx.{mac}")
    with pytest.raises(InvalidToken):
        signer.verify("v2." + value[3:])
    with pytest.raises(InvalidToken):
        signer.verify("x" * 20000)


def test_cli_reads_the_yaml_section_like_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "plugwork.yaml"
    config.write_text(f"plugins:\n  auth:\n    jwt_secret: {SECRET}\n    jwt_issuer: from-yaml\n")
    monkeypatch.chdir(tmp_path)
    for name in ("PLUGWORK_JWT_SECRET", "PYMODULES_JWT_SECRET", "PLUGWORK_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLUGWORK_CONFIG", str(config))
    result = CliRunner().invoke(main, ["auth", "token", "--sub", "dev"])
    assert result.exit_code == 0, result.output
    assert jwt.decode(result.output.strip(), SECRET, algorithms=["HS256"], issuer="from-yaml")["sub"] == "dev"


def test_actions_in_a_fastapi_router_get_the_same_rules() -> None:
    from auth_app import bearer, make_app
    from starlette.testclient import TestClient as StarletteClient

    from plugwork.fastapi import action_router, lifespan

    plugwork = make_app()
    plugwork.configure(queue_url="none", plugboard_url="")
    outer = fastapi.FastAPI(lifespan=lifespan(plugwork))
    outer.include_router(action_router(plugwork, prefix="/rpc"))
    with StarletteClient(outer) as http:
        assert http.post("/rpc/create_order", json={}).status_code == 401
        assert http.post("/rpc/create_order", json={}, headers=bearer("orders:read")).status_code == 403
        ok = http.post("/rpc/create_order", json={"item": "pen"}, headers=bearer("orders:write"))
        assert ok.status_code == 200 and ok.json()["by"] == "alice"
