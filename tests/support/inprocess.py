"""The app in-process: its real lifespan (watcher, sync, live model) over an ASGI transport.

Fast tests of the serving core and the routes need no server process: `asgi-lifespan` runs
the same startup and shutdown uvicorn would, and httpx talks to the app without a socket.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from asgi_lifespan import LifespanManager

from regwatch.api.app import create_app
from regwatch.api.settings import Settings
from regwatch.api.state import ServiceState
from regwatch.events import Event, EventType, Subscription


@asynccontextmanager
async def running_app(root: Path, **settings: Any) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceState]]:
    """Start the app on `root`; yield a client and the service state the routes share."""
    app = create_app(Settings(registry=root, **settings))
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://regwatch.test") as client:
            yield client, app.state.service


async def until_serving(
    svc: ServiceState, version: str, timeout: float = 10.0, model: str | None = None
) -> None:
    """Wait, on the bus, until `version` serves `model` (no polling, no sleep)."""
    with (
        svc.bus.subscribe({EventType.MODEL_LOADED, EventType.MODEL_ADDED}) as loaded,
        anyio.fail_after(timeout),
    ):
        while (served := svc.models.get(model or svc.default.name)) is None or (
            served.live.serving is None or served.live.serving.version != version
        ):
            await loaded.get()


async def next_event(
    subscription: Subscription, type: EventType, version: str, timeout: float = 20.0
) -> Event:
    """The next event of `type` about `version` on an open subscription."""
    with anyio.fail_after(timeout):
        while True:
            event = await subscription.get()
            if event.type is type and event.version == version:
                return event
