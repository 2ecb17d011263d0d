"""The objects one running service shares between its lifespan and its routes."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from regwatch.events import EventBus
from regwatch.serving import Batcher, ModelNotFound, ServedModel, ServedModels, Supervisor
from regwatch.watcher import FolderWatcher

from .metrics import Metrics
from .settings import Settings

if TYPE_CHECKING:  # cluster mode only
    from regwatch.serving.cluster import Cluster
    from regwatch.serving.relay import EventRelay


# eq=False: one service is one identity (hashable, so per-service caches can key on it).
@dataclass(eq=False)
class ServiceState:
    settings: Settings
    bus: EventBus
    models: ServedModels
    watcher: FolderWatcher
    supervisor: Supervisor
    metrics: Metrics
    batcher: Batcher
    cluster: "Cluster | None" = None  # cluster mode: this replica's fleet membership
    relay: "EventRelay | None" = None  # cluster mode: bus -> the fleet's event stream

    @property
    def default(self) -> ServedModel:
        return self.models.default

    def model(self, name: str | None) -> ServedModel:
        """The model served under `name` (None: the default model; unknown: ModelNotFound,
        404). The one per-model lookup: every route that names a model goes through it."""
        if name is None:
            return self.models.default
        served = self.models.get(name)
        if served is None:
            raise ModelNotFound(f"unknown model {name[:80]!r}")
        return served

    def begin_shutdown(self) -> None:
        """The service is stopping: background tasks end, and so does every event stream
        (at once, not at the server's graceful-shutdown timeout); requests in flight finish."""
        self.supervisor.stop()  # first, so tasks ending on the closed bus are not failures
        self.bus.close()


async def service(request: Request) -> ServiceState:
    """FastAPI dependency: the running service's shared state. `async` on purpose: FastAPI
    runs a plain `def` dependency in the thread pool, a thread hop on every request."""
    svc: ServiceState = request.app.state.service
    return svc
