"""The objects one running service shares between its lifespan and its routes."""

from dataclasses import dataclass

from fastapi import Request

from regwatch.events import EventBus
from regwatch.registry import ModelRegistry
from regwatch.serving import Batcher, LiveModel

from .metrics import Metrics
from .settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    bus: EventBus
    live: LiveModel
    metrics: Metrics
    batcher: Batcher


async def service(request: Request) -> ServiceState:
    """FastAPI dependency: the running service's shared state. `async` on purpose: FastAPI
    runs a plain `def` dependency in the thread pool, a thread hop on every request."""
    svc: ServiceState = request.app.state.service
    return svc
