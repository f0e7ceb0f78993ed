"""The PyModules seed's API-layer and FastAPI samples, with only their imports changed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient
from seed_greeter import GreeterModule, GreetEvent, GreetInput, GreetOutput
from seed_users import CreateUser, GetUser, InternalSyncEvent, ListUsers, SearchUsers, UserModule

from plugwork.events import Event, EventInput, EventOutput, Module, ModuleHost, ModuleHostConfig, module


def test_module_router_sample() -> None:
    from fastapi import FastAPI

    from plugwork.events import ModuleHost
    from plugwork.events.api import ModuleRouter, register_error_handlers

    # Set up host and modules
    host = ModuleHost()
    host.register(UserModule())

    # Create FastAPI app
    app = FastAPI()
    register_error_handlers(app)

    # Create router and register events
    router = ModuleRouter(host)
    router.register_event(CreateUser)
    router.register_event(GetUser)
    router.register_event(ListUsers)

    # Mount on app
    router.mount(app, prefix="/api/v1")

    client = TestClient(app)
    assert client.get("/api/v1/users/1").json() == {"user_id": 1, "name": "Ada", "email": "ada@example.com"}
    created = client.post("/api/v1/users", json={"name": "Grace"})
    assert created.status_code == 200 and created.json()["user_id"] == 2
    assert [u["name"] for u in client.get("/api/v1/users").json()["users"]] == ["Ada", "Grace"]
    missing = client.get("/api/v1/users/99")
    assert missing.status_code == 404 and missing.json()["error_code"] == "NOT_FOUND"
    bad = client.get("/api/v1/users/abc")
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "user_id"


def test_custom_endpoints_sample() -> None:
    from fastapi import FastAPI

    from plugwork.events.api import ModuleRouter

    host = ModuleHost()
    host.register(UserModule())
    router = ModuleRouter(host)
    route = router.register_event(SearchUsers)
    assert route is not None and route.tags == ("Users", "Search")
    assert router.register_event(InternalSyncEvent) is None
    app = FastAPI()
    router.mount(app)
    client = TestClient(app)
    assert client.post("/users/search", json={"query": "ad"}).json()["users"][0]["name"] == "Ada"
    operation = app.openapi()["paths"]["/users/search"]["post"]
    assert operation["summary"] == "Search users by criteria"
    assert operation["tags"] == ["Users", "Search"]


# ----------------------------------------------------------------------------------- Complete API Example
@dataclass
class CreateProductInput(EventInput):
    name: str = ""


@dataclass
class CreateProductOutput(EventOutput):
    id: str = ""
    name: str = ""


@dataclass
class GetProductInput(EventInput):
    product_id: str = ""


@dataclass
class GetProductOutput(EventOutput):
    id: str = ""
    name: str = ""


def test_complete_api_example() -> None:
    from fastapi import FastAPI

    from plugwork.events import Event, Module, ModuleHost, module
    from plugwork.events.api import ModuleRouter, register_error_handlers

    # Define events
    class CreateProduct(Event[CreateProductInput, CreateProductOutput]):
        pass

    class GetProduct(Event[GetProductInput, GetProductOutput]):
        pass

    # Define module
    @module(name="products", description="Product management")
    class ProductModule(Module):
        def can_handle(self, event):
            return isinstance(event, (CreateProduct, GetProduct))

        async def handle(self, event):
            if isinstance(event, CreateProduct):
                # Handle creation
                event.output = CreateProductOutput(id="123", name=event.input.name)
                event.handled = True
            elif isinstance(event, GetProduct):
                # Handle retrieval
                event.output = GetProductOutput(id=event.input.product_id, name="Widget")
                event.handled = True

    # Set up application
    host = ModuleHost()
    host.register(ProductModule())

    app = FastAPI()
    register_error_handlers(app)

    router = ModuleRouter(host)
    router.register_event(CreateProduct)
    router.register_event(GetProduct)
    router.mount(app, prefix="/api/v1")

    client = TestClient(app)
    assert client.post("/api/v1/products", json={"name": "Gear"}).json() == {"id": "123", "name": "Gear"}
    assert client.get("/api/v1/products/7").json() == {"id": "7", "name": "Widget"}
    schema = app.openapi()
    get_op = schema["paths"]["/api/v1/products/{product_id}"]["get"]
    assert get_op["parameters"][0]["name"] == "product_id"
    assert "CreateProductInput" in schema["components"]["schemas"]


# ------------------------------------------------------------------------------------------ PyModulesAPI
@dataclass
class CalculatorInput(EventInput):
    a: float = 0
    b: float = 0
    op: str = "+"


@dataclass
class CalculatorOutput(EventOutput):
    result: float = 0


class CalculatorEvent(Event[CalculatorInput, CalculatorOutput]):
    name = "calculate"


@module(name="Calculator")
class CalculatorModule(Module):
    def can_handle(self, event):
        return isinstance(event, CalculatorEvent)

    def handle(self, event):
        a, b = event.input.a, event.input.b
        event.output = CalculatorOutput(result=a + b if event.input.op == "+" else a * b)
        event.handled = True


def test_pymodules_api_basic_setup() -> None:
    from fastapi import FastAPI

    from plugwork.events import ModuleHost
    from plugwork.events.fastapi import PyModulesAPI

    host = ModuleHost()
    host.register(GreeterModule())

    app = FastAPI()
    api = PyModulesAPI(host)

    # Auto-generate endpoint from event
    api.add_event_endpoint(app, "/greet", GreetEvent, GreetInput, GreetOutput)

    client = TestClient(app)
    assert client.post("/greet", json={"name": "Ada"}).json() == {"message": "Hello, Ada!"}
    assert client.post("/greet", json={"name": 5}).status_code == 422
    host.close()


def test_pymodules_api_complete_example() -> None:
    from fastapi import FastAPI

    from plugwork.events import ModuleHost
    from plugwork.events.fastapi import PyModulesAPI
    from plugwork.events.resilience import CircuitBreaker, RateLimiter

    # Configure for production
    config = ModuleHostConfig(
        enable_metrics=True,
        enable_tracing=True,
        rate_limiter=RateLimiter(rate=100, burst=20),
        circuit_breaker=CircuitBreaker(failure_threshold=5),
    )

    host = ModuleHost(config=config)
    host.register(GreeterModule())
    host.register(CalculatorModule())

    app = FastAPI(title="My API", version="1.0.0")
    api = PyModulesAPI(host, version="1.0.0")

    # Add standard endpoints
    api.add_health_endpoints(app)
    api.add_metrics_endpoint(app)
    api.add_tracing_middleware(app)

    # Add event endpoints
    api.add_event_endpoint(app, "/greet", GreetEvent, GreetInput, GreetOutput)
    api.add_event_endpoint(app, "/calculate", CalculatorEvent, CalculatorInput, CalculatorOutput)

    client = TestClient(app)
    response = client.post("/calculate", json={"a": 2, "b": 3}, headers={"X-Correlation-ID": "abc123"})
    assert response.json() == {"result": 5.0}
    assert response.headers["x-correlation-id"] == "abc123"
    assert client.get("/health").json()["status"] == "healthy"
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert client.get("/metrics").json()["events_handled"] == 1
    assert len(client.get("/health").headers["x-correlation-id"]) == 32
    host.close()


def test_migration_guide_before_and_after() -> None:
    from fastapi import FastAPI
    from seed_users import CreateUserInput, UserOut

    from plugwork.events.api import ModuleRouter, register_error_handlers
    from plugwork.events.fastapi import PyModulesAPI

    host = ModuleHost()
    host.register(UserModule())
    before = FastAPI()
    api = PyModulesAPI(host)
    api.add_event_endpoint(before, "/users", CreateUser, CreateUserInput, UserOut)

    app = FastAPI()
    register_error_handlers(app)
    router = ModuleRouter(host)
    router.register_event(CreateUser)  # Auto-generates POST /users
    router.mount(app, prefix="/api/v1")

    assert TestClient(before).post("/users", json={"name": "A"}).json()["name"] == "A"
    assert TestClient(app).post("/api/v1/users", json={"name": "B"}).json()["name"] == "B"
