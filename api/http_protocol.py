"""uvicorn's HTTP/1.1 protocol with a deadline for the request head (uvicorn has none).

Without one, a client that opens a connection and sends half a request head, or nothing,
holds a file descriptor for as long as it likes: a few thousand of them starve everyone
else (slowloris). Here the head must be complete within `header_timeout` seconds of the
connection opening, or of the first byte of a later request on a kept-alive connection;
otherwise the connection is closed. Once the head is in, the timer is off: a long request
(an SSE stream, a big upload) is never cut by it. Idle kept-alive connections are closed
by uvicorn's own `timeout_keep_alive`.
"""

import asyncio
import logging
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

log = logging.getLogger("regwatch.http")


class ServerConfig(Config):
    """uvicorn's config plus the request-head deadline the protocol reads."""

    def __init__(self, app: Any, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, http=HeaderTimeoutProtocol, **kwargs)
        self.header_timeout = header_timeout


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """Per request only a timestamp is set and cleared (the hot path stays as fast as
    uvicorn's own); one timer per connection checks it every `header_timeout` seconds."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig)
        self._header_timeout = config.header_timeout
        self._head_since: float | None = None  # when the request head now arriving began
        self._head_check: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        self._check_head_in(self._header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_since = None
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_check is not None:
            self._head_check.cancel()
        super().connection_lost(exc)

    def _check_head_in(self, seconds: float) -> None:
        self._head_check = self.loop.call_later(seconds, self._check_head)

    def _check_head(self) -> None:
        if self.transport.is_closing():
            return
        waited = self.loop.time() - self._head_since if self._head_since is not None else 0.0
        if waited >= self._header_timeout:
            log.debug("closing %s: no complete request head in %gs", self.client, self._header_timeout)
            self.transport.close()
        else:
            self._check_head_in(self._header_timeout - waited)
