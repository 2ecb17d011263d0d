"""`regwatch serve`: the app under uvicorn, with what uvicorn leaves to the application.

- Shutdown ends event streams at once. uvicorn waits for every open connection to finish
  before it tells the app to stop, and an SSE stream never finishes: each one held a stop
  for the whole graceful timeout and was then cancelled with an ERROR traceback. Here the
  service's streams end as soon as shutdown begins; requests in flight still finish.
- A deadline for request heads (`http_protocol.py`).
- The soft open-file limit is raised to the hard one: every connection is a descriptor.
"""

import ctypes
import ctypes.util
import logging
import resource
import socket
from collections.abc import Callable

import uvicorn

from .app import create_app
from .http_protocol import ServerConfig
from .logs import configure_logging
from .settings import Settings
from .state import ServiceState

log = logging.getLogger("regwatch.api")


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_shutdown: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets)


def raise_open_file_limit() -> None:
    """Lift the soft RLIMIT_NOFILE (often 1,024) to the hard limit this process may use."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
        return
    log.info("open-file limit raised from %d to %d", soft, target)


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 1 << 20


def return_large_buffers_to_the_os() -> None:
    """Keep glibc from growing its mmap threshold: every load reads a model file into one
    large buffer; once such a buffer is freed, glibc by default raises the threshold to its
    size and serves the next ones from the heap, which fragments and never shrinks (RSS
    +84 % over 300 swaps of a 21 MB model). A fixed threshold keeps them mmapped, returned
    on free (+0.7 % from the 4th swap to the 300th)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name)
    if hasattr(libc, "mallopt"):  # glibc; other C libraries manage this differently
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_json)
    raise_open_file_limit()
    return_large_buffers_to_the_os()
    app = create_app(settings)

    def begin_shutdown() -> None:
        svc: ServiceState | None = getattr(app.state, "service", None)
        if svc is not None:
            svc.begin_shutdown()

    config = ServerConfig(
        app,
        header_timeout=settings.header_timeout_seconds,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    GracefulServer(config, begin_shutdown).run()
