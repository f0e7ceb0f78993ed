"""A real SOAJS gateway for tests: ``soajs.controller`` from npm, on a CongoDB MongoDB-wire server.

Installed once into ``.cache/node/soajs/`` (the gateway brings ``soajs.core.modules`` and its own MongoDB
driver). :class:`SoajsGateway` seeds the provisioning database (environment ``DEV``, a product whose package
opens the given services to key holders, a tenant with an application, an internal key and an external key
minted by ``soajs.core.modules``' own key helper), then runs the controller with ``SOAJS_ENV=dev`` and
``SOAJS_DEPLOY_MANUAL=1``. Its ports are fixed by SOAJS (4000 gateway, 5000 maintenance); a preload binds
them to 127.0.0.1 only, and a machine-wide lock keeps two test runs from starting two gateways at once.
Stopped with SIGINT, then SIGKILL, before its database (and it exits by itself if the test process dies).

In a ``conftest.py``: ``from support.mongo_wire import mongo_wire_server`` and ``from support.soajs_gateway
import soajs_gateway`` (fixtures); the gateway opens the services named in ``SOAJS_TEST_SERVICES``.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from .mongo_wire import MongoWireServer
from .node_tools import JS_DIR, NodeProcess, node_and_npm, npm_install

SOAJS_CONTROLLER = "soajs.controller@4.3.4"
GATEWAY_PORT = 4000
MAINTENANCE_INC = 1000
LOCK_FILE = Path(tempfile.gettempdir()) / "plugwork-soajs-gateway.lock"
HEALTH_CHECK_MS = 500


def install_controller() -> Path:
    """Install the SOAJS controller into the cache (once); return its ``node_modules`` folder."""
    return npm_install("soajs", [SOAJS_CONTROLLER])


@dataclass
class Provision:
    """What the gateway is seeded with (ids are fresh per gateway)."""

    services: Sequence[str]
    key_password: str = field(default_factory=lambda: secrets.token_hex(16))
    tenant_id: str = field(default_factory=lambda: secrets.token_hex(12))
    tenant_code: str = "PWTN"
    tenant_name: str = "Plugwork Test Tenant"
    app_id: str = field(default_factory=lambda: secrets.token_hex(12))
    product: str = "PWPRD"
    package: str = "PWPRD_MAIN"
    internal_key: str = field(default_factory=lambda: secrets.token_hex(16))
    ext_key: str = ""

    def documents(self) -> dict[str, list[dict[str, Any]]]:
        """The provisioning records, shaped like the controller's own test data."""
        acl = {name: {"1": {"access": False}} for name in self.services}
        return {
            "environment": [_environment(self.key_password)],
            "products": [
                {
                    "_id": secrets.token_hex(12),
                    "code": self.product,
                    "name": "Plugwork Test Product",
                    "description": "Opens the test services to key holders",
                    "locked": False,
                    "console": False,
                    "packages": [
                        {
                            "code": self.package,
                            "name": "Main",
                            "description": "Every test service, public to key holders",
                            "locked": False,
                            "aclType": "granular",
                            "acl": {"dev": acl},
                            "_TTL": 604800000,
                        }
                    ],
                }
            ],
            "tenants": [
                {
                    "_id": self.tenant_id,
                    "type": "product",
                    "code": self.tenant_code,
                    "name": self.tenant_name,
                    "description": "The tenant of the Plugwork SOAJS tests",
                    "locked": False,
                    "oauth": {"secret": secrets.token_hex(8), "disabled": 1, "type": 2, "loginMode": "urac"},
                    "applications": [
                        {
                            "product": self.product,
                            "package": self.package,
                            "appId": self.app_id,
                            "description": "Plugwork test application",
                            "_TTL": 604800000,
                            "keys": [
                                {
                                    "key": self.internal_key,
                                    "extKeys": [],
                                    "config": {"dev": {"plugwork": {"greeting": "hello from the key"}}},
                                }
                            ],
                        }
                    ],
                    "profile": {"plan": "gold"},
                    "tag": "plugwork",
                }
            ],
            "custom_registry": [
                {
                    "_id": secrets.token_hex(12),
                    "name": "plugworkCustom",
                    "locked": False,
                    "plugged": True,
                    "shared": True,
                    "value": {"answer": 42},
                    "created": "DEV",
                    "author": "plugwork-tests",
                }
            ],
        }


def _environment(password: str) -> dict[str, Any]:
    return {
        "_id": secrets.token_hex(12),
        "code": "DEV",
        "domain": "localhost",
        "sitePrefix": None,
        "apiPrefix": None,
        "locked": True,
        "port": GATEWAY_PORT,
        "protocol": "http",
        "deployer": {"type": "manual", "selected": "manual", "manual": {"nodes": "127.0.0.1"}},
        "description": "Plugwork SOAJS test environment",
        "dbs": {"config": {"prefix": ""}, "databases": {}},
        "services": {
            "controller": {
                "maxPoolSize": 100,
                "authorization": True,
                "requestTimeout": 30,
                "requestTimeoutRenewal": 0,
            },
            "config": {
                "awareness": {
                    "cacheTTL": 3600000,
                    "healthCheckInterval": HEALTH_CHECK_MS,
                    "autoRelaodRegistry": 3600000,  # sic: SOAJS's own spelling
                    "maxLogCount": 5,
                    "autoRegisterService": True,
                },
                "agent": {"topologyDir": tempfile.gettempdir()},
                "key": {"algorithm": "aes256", "password": password},
                "logger": {"src": False, "level": "error", "formatter": {"outputMode": "short"}},
                "cors": {"enabled": False},
                "oauth": {"grants": ["password", "refresh_token"], "debug": False},
                "ports": {"controller": GATEWAY_PORT, "maintenanceInc": MAINTENANCE_INC, "randomInc": 100},
                "cookie": {"secret": secrets.token_hex(8)},
                "session": {
                    "name": "soajsID",
                    "secret": secrets.token_hex(8),
                    "cookie": {"path": "/", "httpOnly": True, "secure": False, "maxAge": None},
                    "resave": False,
                    "saveUninitialized": False,
                    "rolling": False,
                    "unset": "keep",
                },
            },
        },
    }


class SoajsGateway:
    """A running SOAJS controller on loopback, seeded with one tenant and its external key."""

    def __init__(self, mongo: MongoWireServer, services: Sequence[str]) -> None:
        self.mongo = mongo
        self.provision = Provision(services=list(services))
        self.url = f"http://127.0.0.1:{GATEWAY_PORT}"
        self.registry_api = f"127.0.0.1:{GATEWAY_PORT + MAINTENANCE_INC}"
        self.process: NodeProcess | None = None
        self._lock: IO[str] | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="plugwork-soajs-"))

    @property
    def ext_key(self) -> str:
        """The tenant's external key (send it as the ``key`` header)."""
        return self.provision.ext_key

    def start(self) -> SoajsGateway:
        """Seed the database and start the controller; return once its maintenance API answers."""
        modules = install_controller()
        self._lock = LOCK_FILE.open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another run's gateway holds the fixed ports until it ends
        for port in (GATEWAY_PORT, GATEWAY_PORT + MAINTENANCE_INC):
            if _in_use(port):
                self._release()
                raise RuntimeError(f"port {port} is taken: the SOAJS gateway needs 4000 and 5000 free")
        profile = {
            "name": "core_provision",
            "prefix": "",
            "servers": [{"host": self.mongo.host, "port": self.mongo.port}],
            "credentials": None,
            "streaming": {},
            "extraParam": {},
            "URLParam": {"directConnection": True},
        }
        profile_path = self._workdir / "profile.json"
        profile_path.write_text(json.dumps(profile))
        self.provision.ext_key = self._seed(modules, profile)
        self.process = NodeProcess(
            ["-r", str(JS_DIR / "loopback_only.cjs"), str(modules / "soajs.controller" / "index.js")],
            env={
                "SOAJS_ENV": "dev",
                "SOAJS_PROFILE": str(profile_path),
                "SOAJS_SRVIP": "127.0.0.1",
                "SOAJS_DEPLOY_MANUAL": "1",
                "NODE_ENV": "production",
            },
            cwd=self._workdir,
        )
        self.process.launch()
        try:
            self._wait_ready(30.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _seed(self, modules: Path, profile: dict[str, Any]) -> str:
        request = {
            "profile": profile,
            "collections": self.provision.documents(),
            "key": {
                "tenant": 0,
                "app": 0,
                "key": 0,
                "env": "DEV",
                "algorithm": "aes256",
                "password": self.provision.key_password,
            },
        }
        ext_key: str = self._node_db(modules, request)["extKey"]
        return ext_key

    def _node_db(self, modules: Path, request: dict[str, Any]) -> dict[str, Any]:
        node, _ = node_and_npm()
        result = subprocess.run(
            [node, str(JS_DIR / "soajs_seed.js"), str(modules)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"seeding the SOAJS provisioning database failed:\n{result.stderr[-3000:]}")
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return answer

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{self.registry_api}/getRegistry?env=dev&serviceName=controller"
        while True:
            assert self.process is not None
            if not self.process.running:
                raise RuntimeError(f"the SOAJS controller exited:\n{self.process.tail()}")
            try:
                if httpx.get(url, timeout=2).json().get("result") is True:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no SOAJS controller after {timeout:.0f} s:\n{self.process.tail()}")
            time.sleep(0.2)

    def wait_routable(self, path: str, timeout: float = 30.0) -> httpx.Response:
        """GET ``path`` through the gateway with the tenant's key until the gateway routes it (not 5xx/JSON
        error envelope); the gateway routes a service only after one healthy heartbeat."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(self.url + path, headers={"key": self.ext_key}, timeout=5)
                last = response
                if response.status_code < 500 and not _gateway_error(response):
                    return response
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.3)
        detail = last.text if isinstance(last, httpx.Response) else repr(last)
        raise AssertionError(f"the gateway never routed {path}: {detail}\n{self.tail()}")

    def tail(self) -> str:
        """The controller's last output lines."""
        return self.process.tail() if self.process is not None else ""

    def stop(self) -> None:
        """Stop the controller: SIGINT, then SIGKILL (it ignores SIGTERM)."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        self._release()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def restart(self, *, forget_hosts: bool = False) -> None:
        """Stop and start the controller on the same database. ``forget_hosts`` empties, in between, what
        the gateway remembers of registered services (``hosts``, ``controllers``, ``marketplace``): the new
        controller then knows no service until it registers again, as a gateway with a fresh database."""
        assert self.process is not None
        self.process.stop()
        if forget_hosts:
            profile = json.loads((self._workdir / "profile.json").read_text())
            self._node_db(
                install_controller(), {"profile": profile, "clear": ["hosts", "controllers", "marketplace"]}
            )
        self.process.launch()
        self._wait_ready(30.0)


def _gateway_error(response: httpx.Response) -> bool:
    """The gateway answers its own errors with a JSON envelope ``{"result": false, "errors": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("result") is False and "errors" in body


def _in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_pair(inc: int = MAINTENANCE_INC) -> int:
    """A port ``p`` with ``p`` and ``p + inc`` free on 127.0.0.1 (a SOAJS service and its maintenance)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + inc < 65536 and not _in_use(port + inc) and not _in_use(port):
            return port
    raise RuntimeError("no free port pair found")


@pytest.fixture(scope="session")
def soajs_gateway(mongo_wire_server: MongoWireServer) -> Iterator[SoajsGateway]:
    """One real SOAJS gateway for the session, opening the services the SOAJS tests register."""
    node_and_npm()
    gateway = SoajsGateway(mongo_wire_server, services=SOAJS_TEST_SERVICES).start()
    try:
        yield gateway
    finally:
        gateway.stop()


SOAJS_TEST_SERVICES = ("pwgreeter", "pwflask", "pwfastapi", "pwrestart", "greeter")
