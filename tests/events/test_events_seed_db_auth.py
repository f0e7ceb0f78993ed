"""The PyModules seed's database and auth samples, with only their import lines changed
(``pymodules.db`` → ``plugwork.db``, ``pymodules.api.auth`` → ``plugwork.events.api.auth``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the db extra is a dev dependency")
pytest.importorskip("jwt", reason="the auth extra is a dev dependency")

from sqlalchemy import Column, String
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from plugwork.db import Base, BaseRepository, DatabaseSettings, SoftDeleteMixin, TimestampMixin, UUIDMixin


class SeedUser(UUIDMixin, TimestampMixin, SoftDeleteMixin, Base):
    """User model with UUID, timestamps, and soft delete support."""

    __tablename__ = "seed_users"

    name = Column(String(100), nullable=False)
    email = Column(String(255), nullable=False, unique=True)


async def test_the_repository_sample(tmp_path: Path) -> None:
    # --- the sample ---
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/app.db")
    session_factory = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    async with engine.begin() as conn:  # (the sample assumes the table exists)
        await conn.run_sync(Base.metadata.create_all, tables=[SeedUser.__table__])
    user_repo = BaseRepository(session_factory, SeedUser)
    user = await user_repo.create(name="Alice", email="alice@example.com")
    user = await user_repo.get_by_id(user.id)
    users = await user_repo.get_all(limit=10, offset=0)
    alice = await user_repo.find_one(name="Alice")
    user = await user_repo.update(user.id, name="Alice Smith")
    await user_repo.soft_delete(user.id)  # Soft delete
    assert await user_repo.count() == 0  # hidden from the default queries
    await user_repo.restore(user.id)  # Restore
    await user_repo.delete(user.id)  # Hard delete
    count = await user_repo.count()
    # --- what it should have done ---
    assert [u.email for u in users] == ["alice@example.com"] and alice is not None
    assert user.name == "Alice Smith" and count == 0
    await engine.dispose()


def test_the_settings_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYMODULES_DB_POOL_SIZE", "7")
    settings = DatabaseSettings()
    assert settings.pool_size == 7
    settings = DatabaseSettings(url="postgresql+asyncpg://user:pass@localhost/db", pool_size=10, echo=False)
    assert settings.pool_size == 10 and "user:pass@" not in repr(settings)


async def test_the_auth_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from plugwork.events.api.auth import AuthMiddleware, AuthProvider, JWTAuthProvider, TokenClaims

    monkeypatch.setenv("PYMODULES_JWT_SECRET", "a-test-secret-that-is-long-enough-for-hs256")
    jwt_provider = JWTAuthProvider()  # Reads from PYMODULES_JWT_* env vars

    def is_valid(token: str) -> bool:
        return token == "let-me-in"

    def generate_token(claims: dict[str, Any]) -> str:
        return "let-me-in"

    class MyAuthProvider(AuthProvider):
        async def validate_token(self, token: str) -> TokenClaims | None:
            if is_valid(token):
                return TokenClaims(
                    sub="user-123",
                    exp=datetime.now(UTC) + timedelta(hours=1),
                    iat=datetime.now(UTC),
                    permissions=["read", "write"],
                )
            return None

        async def create_token(self, claims: dict[str, Any]) -> str:
            return generate_token(claims)

    custom = MyAuthProvider()
    assert (await custom.validate_token("let-me-in")) is not None
    app = FastAPI()
    app.add_middleware(AuthMiddleware, provider=jwt_provider)

    @app.get("/me")
    async def me() -> dict[str, str]:
        return {"ok": "yes"}

    token = await jwt_provider.create_token({"sub": "user-123", "permissions": ["read"]})
    with TestClient(app) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/me", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_the_opentelemetry_sample_runs_in_a_process_of_its_own() -> None:
    # It sets the process-wide tracer provider, so it runs apart from the other tests.
    import subprocess
    import sys

    sample = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from plugwork.events.tracing import Tracer, OpenTelemetryExporter

# Set up OpenTelemetry
trace.set_tracer_provider(TracerProvider())
memory = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))

# Create exporter
exporter = OpenTelemetryExporter()

# Use with PyModules tracer
tracer = Tracer(export_func=exporter.export)
with tracer.trace("process_order", correlation_id="order-123") as ctx:
    with ctx.span("validate"):
        pass
print(sorted(span.name for span in memory.get_finished_spans()))
"""
    done = subprocess.run([sys.executable, "-c", sample], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['process_order', 'validate']"
