"""The objects one running service shares between its lifespan and its routes."""

from dataclasses import dataclass

from fastapi import Request

from events import EventBus
from registry import ModelRegistry

from .live import LiveModel
from .metrics import Metrics
from .settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    bus: EventBus
    live: LiveModel
    metrics: Metrics


def service(request: Request) -> ServiceState:
    """FastAPI dependency: the running service's shared state."""
    return request.app.state.service
