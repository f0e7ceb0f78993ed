"""The management API with the auth plugin: its static token, or a JWT granting ``plugwork:manage``."""

from __future__ import annotations

from auth_app import bearer, make_app
from auth_keys import forged_tokens

from plugwork.testing import TestClient

STATIC = "management-token-0123456789"


async def test_management_takes_the_static_token_or_a_manage_permission() -> None:
    async with TestClient(make_app(), management_api=True, management_token=STATIC, worker=False) as c:
        anonymous = await c.http.get("/services")
        assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers
        static = {"Authorization": f"Bearer {STATIC}"}
        assert (await c.http.get("/services", headers=static)).status_code == 200
        assert (await c.http.get("/services", headers=bearer("orders:write"))).status_code == 403
        assert (await c.http.get("/services", headers=bearer("plugwork:manage"))).status_code == 200
        for name, token in forged_tokens().items():
            refused = await c.http.get("/services", headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401, name
