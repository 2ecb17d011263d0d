"""The replica's NATS connection: the first connect retried here, every later one by nats-py.

It only says whether NATS is reachable (and since when) and tells the coordinator when
that changes; what to do about it is the coordinator's business.
"""

import logging
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import anyio
import nats
import nats.errors
from nats.aio.client import Client

from regwatch.events import utc_now

from .config import FleetConfig
from .status import Counters

log = logging.getLogger("regwatch.fleet")

NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)


def redacted(url: str) -> str:
    """The URL without its credentials (`nats://user:pass@host` is how they are given)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class Link:
    def __init__(self, config: FleetConfig, counters: Counters, on_change: Callable[[bool], None]) -> None:
        self.config = config
        self.connected = False
        self.changed_at = utc_now()  # when `connected` last changed
        self._counters = counters
        self._on_change = on_change
        self._online = anyio.Event()

    async def connect(self) -> Client:
        """Connect, retrying every `reconnect_wait` until NATS answers; then reconnect forever."""
        while True:
            try:
                client = await nats.connect(
                    self.config.url,
                    name=f"regwatch {self.config.name}/{self.config.replica_id}",
                    connect_timeout=max(1, round(self.config.request_timeout)),
                    reconnect_time_wait=self.config.reconnect_wait,
                    max_reconnect_attempts=-1,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            except NATS_ERRORS as exc:
                log.warning(
                    "fleet %s: NATS at %s unreachable (%s)", self.config.name, redacted(self.config.url), exc
                )
                await anyio.sleep(self.config.reconnect_wait)
                continue
            self._set(True)
            return client

    async def online(self) -> None:
        """Return when connected (at once if it is)."""
        await self._online.wait()

    async def _on_disconnected(self) -> None:
        self._set(False)

    async def _on_reconnected(self) -> None:
        self._counters.reconnects += 1
        self._set(True)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("fleet %s: NATS error: %s", self.config.name, exc)

    def _set(self, connected: bool) -> None:
        if connected == self.connected:
            return
        log.info("fleet %s: %s NATS", self.config.name, "connected to" if connected else "lost")
        self.connected, self.changed_at = connected, utc_now()
        if connected:
            self._online.set()
        else:
            self._online = anyio.Event()
        self._on_change(connected)
