"""The Processpype seed's service samples, verbatim but for the import lines."""

from fastapi import APIRouter

from plugwork import ServiceState
from plugwork.config import ServiceSection as ServiceConfiguration
from plugwork.observability.logging import get_logger as get_service_logger
from plugwork.services import Service


class MyServiceConfig(ServiceConfiguration):
    custom_field: str
    port: int = 8080


class MyService(Service):
    def __init__(self, name: str | None = None):
        super().__init__(name or "my_service")
        self._router = APIRouter(prefix=f"/services/{self.name}")
        self.logger = get_service_logger(self.name)
        self._setup_routes()

    def _setup_routes(self) -> None:
        @self._router.get("/status")
        async def get_status():
            return {"state": self.state}

    def configure(self, config: MyServiceConfig) -> None:
        self._config = config
        # Apply configuration

    async def start(self) -> None:
        try:
            self.set_state(ServiceState.STARTING)
            # Initialize
            self.logger.info("Starting service", extra={"config": self._config})
            self.set_state(ServiceState.RUNNING)
        except Exception as e:
            self.set_error(str(e))
            self.set_state(ServiceState.ERROR)
            raise

    async def stop(self) -> None:
        self.set_state(ServiceState.STOPPING)
        # Cleanup resources
        self.set_state(ServiceState.STOPPED)


class BasicService(Service):
    def __init__(self, name: str | None = None):
        super().__init__(name or "basic_service")

    async def start(self) -> None:
        self.set_state(ServiceState.STARTING)
        # Initialize your service
        self.set_state(ServiceState.RUNNING)

    async def stop(self) -> None:
        self.set_state(ServiceState.STOPPING)
        # Cleanup resources
        self.set_state(ServiceState.STOPPED)
