"""A minimal SSE reader for tests: wait for events instead of sleeping."""

from collections.abc import Callable

import anyio
import httpx
from httpx_sse import aconnect_sse

from regwatch.cli.sse_client import StreamEvent, parse_event

DEFAULT_TIMEOUT = 15.0


class SseEvent(StreamEvent):
    @property
    def version(self) -> str | None:
        return self.data.get("version")


class SseStream:
    """`async with SseStream(url) as s: await s.wait_for("model_loaded", "1.1.0")`."""

    def __init__(
        self, url: str, last_event_id: int | None = None, path: str = "/events", headers: dict | None = None
    ) -> None:
        self.url = url + path
        self.headers = dict(headers or {})
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = str(last_event_id)
        self.seen: list[SseEvent] = []
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=None))

    async def __aenter__(self) -> "SseStream":
        self._context = aconnect_sse(self._client, "GET", self.url, headers=self.headers)
        source = await self._context.__aenter__()
        self.response = source.response
        self.response.raise_for_status()
        self._messages = source.aiter_sse()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._messages.aclose()
        await self._context.__aexit__(*exc)
        await self._client.aclose()

    async def next(self, timeout: float = DEFAULT_TIMEOUT) -> SseEvent:
        with anyio.fail_after(timeout):
            async for message in self._messages:
                if (parsed := parse_event(message)) is not None:
                    event = SseEvent(parsed.event, parsed.id, parsed.data)
                    self.seen.append(event)
                    return event
        raise EOFError("the event stream ended")

    async def wait_for(
        self,
        event: str,
        version: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        where: Callable[[SseEvent], bool] | None = None,
    ) -> SseEvent:
        """Read until an event of that name (and version) arrives; fail after `timeout`."""
        with anyio.fail_after(timeout):
            while True:
                got = await self.next(timeout)
                if (
                    got.event == event
                    and (version is None or got.version == version)
                    and (where is None or where(got))
                ):
                    return got

    async def wait_serving(self, version: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Return once `version` serves: at once if the snapshot says so, else on model_loaded."""
        first = await self.next(timeout)
        if first.event == "snapshot" and first.data.get("serving") == version:
            return
        if first.event == "model_loaded" and first.version == version:
            return
        await self.wait_for("model_loaded", version, timeout)
