"""A real local HTTP server (uvicorn) injecting faults: 5xx, 429 with Retry-After, slow answers, big bodies.

Paths (each ``key`` counts its own hits, so tests never share state):

- ``/ok``                              200 with the request headers echoed as JSON
- ``/fail/{key}/{times}/{status}``     ``status`` for the first ``times`` hits, then 200
- ``/limited/{key}/{times}/{after}``   429 with ``Retry-After: after`` for the first ``times`` hits, then 200
- ``/slow/{seconds}``                  sleeps, then 200
- ``/big/{size}``                      ``size`` bytes
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FaultServer:
    """The server's state: hits per key and when each came (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.headers: list[dict[str, str]] = []
        self.url = ""

    def _hit(self, key: str) -> int:
        self.hits[key].append(time.monotonic())
        return len(self.hits[key])

    async def ok(self, request: Request) -> Response:
        self._hit("ok")
        self.headers.append(dict(request.headers))
        return JSONResponse({"ok": True, "method": request.method})

    async def fail(self, request: Request) -> Response:
        p = request.path_params
        if self._hit(p["key"]) <= int(p["times"]):
            return JSONResponse({"error": "injected"}, status_code=int(p["status"]))
        return JSONResponse({"ok": True})

    async def limited(self, request: Request) -> Response:
        p = request.path_params
        if self._hit(p["key"]) <= int(p["times"]):
            return Response("slow down", status_code=429, headers={"Retry-After": p["after"]})
        return JSONResponse({"ok": True})

    async def slow(self, request: Request) -> Response:
        self._hit("slow")
        await asyncio.sleep(float(request.path_params["seconds"]))
        return JSONResponse({"ok": True})

    async def big(self, request: Request) -> Response:
        return Response(b"x" * int(request.path_params["size"]))

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return Starlette(
            routes=[
                Route("/ok", self.ok, methods=methods),
                Route("/fail/{key}/{times}/{status}", self.fail, methods=methods),
                Route("/limited/{key}/{times}/{after}", self.limited, methods=methods),
                Route("/slow/{seconds}", self.slow, methods=methods),
                Route("/big/{size}", self.big, methods=methods),
            ]
        )


@contextlib.asynccontextmanager
async def running_fault_server() -> AsyncIterator[FaultServer]:
    """Serve a :class:`FaultServer` on a free port of 127.0.0.1 for the block."""
    state = FaultServer()
    port = free_port()
    config = uvicorn.Config(state.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # a bound on waiting for start-up (5 s), not a performance threshold
        if server.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("fault server did not start")
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
