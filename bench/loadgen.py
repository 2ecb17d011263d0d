"""A lean HTTP/1.1 keep-alive load generator and SSE fan-out client on raw asyncio.

Why not httpx: on 2 cores a pure-Python client library tops out near a few hundred
requests per second and becomes the thing being measured. Here each connection is an
`asyncio.Protocol` (uvloop when available); the request bytes are encoded once; a
response is framed by its Content-Length (or chunked encoding) and nothing else is parsed.
`ceiling()` in run.py measures what this client can do against a trivial server, so a
reported server figure can be checked against the client's own limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def post_json(
    path: str, body: object, host: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> bytes:
    """Pre-encoded `POST path` with a JSON body and keep-alive."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{extra}\r\n"
    )
    return head.encode() + payload


def get(path: str, host: str = "127.0.0.1", headers: dict[str, str] | None = None) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


class _Response:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body


class _HttpConn(asyncio.Protocol):
    """One keep-alive connection, one request in flight at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[_Response] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def request(self, data: bytes) -> asyncio.Future[_Response]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        status = int(buf[9:12])
        start = end + 4
        i = head.find(b"content-length:")
        if i >= 0:
            j = head.find(b"\r\n", i)
            length = int(head[i + 15 : j if j >= 0 else len(head)])
            if len(buf) - start < length:
                return
            body = bytes(buf[start : start + length])
            del buf[: start + length]
        elif b"transfer-encoding: chunked" in head:
            parsed = _dechunk(buf, start)
            if parsed is None:
                return
            body, consumed = parsed
            del buf[:consumed]
        else:  # no body (204/304) or close-delimited (not used by the servers measured)
            body = b""
            del buf[:start]
        waiter = self.waiter
        self.waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(_Response(status, body))


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    parts = []
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
        if size == 0:
            if len(buf) < eol + 4:
                return None
            return b"".join(parts), eol + 4
        if len(buf) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    conn_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for s, n in self.statuses.items() if not 200 <= s < 300)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        ms = lambda q: round(percentile(lat, q) * 1000, 3)  # noqa: E731
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": ms(50),
            "p90_ms": ms(90),
            "p99_ms": ms(99),
            "max_ms": round(lat[-1] * 1000, 3) if lat else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "non_2xx": self.non_2xx,
            "conn_errors": self.conn_errors,
            "error_samples": self.error_samples[:5],
        }


async def _connect(host: str, port: int) -> _HttpConn:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(_HttpConn, host, port)
    return proto


async def run_load(
    host: str,
    port: int,
    request: bytes,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0.0,
    on_response: Callable[[int, bytes], None] | None = None,
) -> LoadResult:
    """`concurrency` keep-alive connections send `request` back to back for `duration`
    seconds (after `warmup` seconds that are not counted). A lost or refused connection
    counts as a connection error and is re-opened."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + duration
    perf = time.perf_counter
    latencies = result.latencies
    statuses = result.statuses

    async def worker() -> None:
        conn: _HttpConn | None = None
        while True:
            now = loop.time()
            if now >= stop_at:
                break
            if conn is None or conn.closed:
                try:
                    conn = await _connect(host, port)
                except OSError as exc:
                    if loop.time() >= measure_from:
                        result.conn_errors += 1
                        result.error_samples.append(f"connect: {exc!r}")
                    conn = None
                    await asyncio.sleep(0.01)
                    continue
            t0 = perf()
            try:
                resp = await conn.request(request)
            except ConnectionError as exc:
                if now >= measure_from:
                    result.conn_errors += 1
                    result.error_samples.append(str(exc))
                conn = None
                continue
            if now >= measure_from and loop.time() <= stop_at:
                latencies.append(perf() - t0)
                statuses[resp.status] += 1
                if on_response is not None:
                    on_response(resp.status, resp.body)
                if not 200 <= resp.status < 300 and len(result.error_samples) < 20:
                    result.error_samples.append(f"{resp.status}: {resp.body[:200]!r}")
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.requests = len(latencies)
    result.seconds = duration
    return result


class Client:
    """One keep-alive connection for sequential requests (polling, probes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn: _HttpConn | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.conn is None or self.conn.closed:
            self.conn = await _connect(self.host, self.port)
        resp = await self.conn.request(request)
        return resp.status, resp.body

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()


class SseConn(asyncio.Protocol):
    """An `/events` subscriber that notes when each event of interest arrives."""

    def __init__(self, wanted: str, on_event: Callable[[dict, float], None]) -> None:
        self.wanted = wanted.encode()
        self.on_event = on_event
        self.buf = bytearray()
        self.body = bytearray()
        self.headers_done = False
        self.chunked = False
        self.snapshot = asyncio.get_event_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"SSE connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.headers_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            self.chunked = b"transfer-encoding: chunked" in head
            self.headers_done = True
            del self.buf[: end + 4]
        if self.chunked:
            while True:
                eol = self.buf.find(b"\r\n")
                if eol < 0:
                    break
                size = int(bytes(self.buf[:eol]).split(b";")[0] or b"0", 16)
                if len(self.buf) < eol + 2 + size + 2:
                    break
                self.body += self.buf[eol + 2 : eol + 2 + size]
                del self.buf[: eol + 2 + size + 2]
        else:
            self.body += self.buf
            self.buf.clear()
        body = self.body.replace(b"\r\n", b"\n")
        while (sep := body.find(b"\n\n")) >= 0:
            message, body = body[:sep], body[sep + 2 :]
            name = b""
            payload = b""
            for line in message.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip()
                elif line.startswith(b"data:"):
                    payload += line[5:].strip()
            if name == b"snapshot" and not self.snapshot.done():
                self.snapshot.set_result(None)
            elif name == self.wanted:
                self.on_event(json.loads(payload), now)
        self.body = bytearray(body)


async def open_sse(host: str, port: int, wanted: str, on_event: Callable[[dict, float], None]) -> SseConn:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(lambda: SseConn(wanted, on_event), host, port)
    transport.write(get("/events", headers={"Accept": "text/event-stream"}))
    return proto
