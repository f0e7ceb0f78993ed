"""A raw ASGI callable doing the same validation: the practical ceiling of one uvicorn process."""

from typing import Any

from pydantic import ValidationError

from .models import GreetIn, GreetOut


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    message = await receive()
    body = message.get("body", b"")
    while message.get("more_body"):
        message = await receive()
        body += message.get("body", b"")
    try:
        data = GreetIn.model_validate_json(body)
        status, payload = 200, GreetOut(message=f"Hello, {data.name}!").model_dump_json().encode()
    except ValidationError:
        status, payload = 422, b'{"detail":"invalid"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
