"""The test client as users use it: one module-level app, many tests, per-client settings and fakes."""

from __future__ import annotations

from pydantic import BaseModel

from plugwork import App, Service, action
from plugwork.testing import TestClient


class Mailer(Service):
    def send(self, to: str) -> str:
        return f"real mail to {to}"


class FakeMailer(Mailer):
    def send(self, to: str) -> str:
        return f"fake mail to {to}"


class MailIn(BaseModel):
    to: str


SENT: list[str] = []


@action
async def mail(data: MailIn, mailer: Mailer) -> dict[str, str]:
    return {"sent": mailer.send(data.to)}


@action
async def mail_later(data: MailIn, mailer: Mailer) -> None:
    SENT.append(mailer.send(data.to))


app = App("mailer", actions=[mail, mail_later])  # module level, as the README shows


async def test_first_client() -> None:
    async with TestClient(app) as client:
        assert await client.call("mail", to="ada") == {"sent": "real mail to ada"}


async def test_second_client_on_the_same_app_with_a_fake() -> None:
    async with TestClient(app, provide={Mailer: FakeMailer()}) as client:
        assert await client.call("mail", to="bob") == {"sent": "fake mail to bob"}


async def test_fakes_and_settings_vanish_after_their_client() -> None:
    async with TestClient(app, provide={Mailer: FakeMailer()}, queue_url="none") as client:
        assert client.app.settings.queue_url == "none"
    async with TestClient(app) as client:
        assert client.app.settings.queue_url == "memory://"
        assert await client.call("mail", to="cy") == {"sent": "real mail to cy"}


async def test_drain_runs_every_queued_job() -> None:
    SENT.clear()
    async with TestClient(app, provide={Mailer: FakeMailer()}) as client:
        for name in ("a", "b", "c"):
            await client.app.enqueue("mail_later", {"to": name})
        counts = await client.drain()
    assert sorted(SENT) == ["fake mail to a", "fake mail to b", "fake mail to c"]
    assert counts["completed"] == 3
