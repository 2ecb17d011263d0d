"""Model files that misbehave while they are unpickled, and a way to watch them load.

They are built from the standard library only (a `Call` pickles as a reference to a stdlib
function plus its arguments), so every process can unpickle them: this one, a probe child,
a real `regwatch serve`.
"""

import io
import operator
import os
import pickle
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import joblib
import numpy as np

from regwatch.registry import ModelRegistry


class Call:
    """Pickles as `fn(*args)`, evaluated when the pickle loads: what a hostile `__reduce__` does."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn = fn
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.fn, self.args


def pickle_running(*steps: Call, result: Any = None) -> bytes:
    """A pickle that runs `steps` in order while it loads, then yields `result`."""
    return pickle.dumps(Call(operator.itemgetter(-1), (*steps, result)))


SEGFAULT = Call(os.kill, Call(os.getpid), int(signal.SIGSEGV))
HANG = Call(time.sleep, 3600)
EXIT = Call(os._exit, 3)


def memory_bomb(n_bytes: int = 400 * 1024 * 1024) -> bytes:
    """A small joblib file (under 2 MB) that inflates to `n_bytes` of zeros when loaded."""
    buffer = io.BytesIO()
    joblib.dump(np.zeros(n_bytes // 8), buffer, compress=3)
    return buffer.getvalue()


def publish_bytes(root: Path, version: str, data: bytes, metadata: dict | None = None) -> str:
    """Publish raw model bytes atomically, with their sha256, as `regwatch publish` does."""
    staging = root.parent / f"staging-{uuid.uuid4().hex}.joblib"
    staging.write_bytes(data)
    try:
        return ModelRegistry(root, scan=False).publish_file(staging, version, metadata)
    finally:
        staging.unlink()


class Report(NamedTuple):
    tag: str
    pid: int


class Beacon:
    """A datagram socket that a pickle built with `step(tag)` reports to, with the tag and its
    pid, each time it is unpickled: tells a test that a load has started (no polling), which
    process runs it, and counts loads."""

    def __init__(self) -> None:
        self.address = f"\0regwatch-test-{uuid.uuid4().hex}"  # abstract: no file, no path limit
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.setblocking(False)

    def step(self, tag: str = "") -> Call:
        sender = Call(socket.socket, int(socket.AF_UNIX), int(socket.SOCK_DGRAM))
        message = Call(str.encode, Call(str.format, "{} {}", tag, Call(os.getpid)))
        # MSG_DONTWAIT: a beacon not drained for a while (its queue holds ~10 datagrams)
        # makes the load fail loudly instead of blocking it.
        return Call(socket.socket.sendto, sender, message, int(socket.MSG_DONTWAIT), self.address)

    @staticmethod
    def _parse(message: bytes) -> Report:
        tag, pid = message.decode().rsplit(" ", 1)
        return Report(tag, int(pid))

    async def next(self, timeout: float = 20.0) -> Report:
        """The next unpickle of a beacon pickle, anywhere."""
        with anyio.fail_after(timeout):
            while True:
                await anyio.wait_readable(self.sock)
                try:
                    return self._parse(self.sock.recv(256))
                except BlockingIOError:
                    continue

    def received(self) -> list[Report]:
        """The unpickles reported since the last call, in order."""
        reports = []
        while True:
            try:
                reports.append(self._parse(self.sock.recv(256)))
            except BlockingIOError:
                return reports

    def tags(self) -> list[str]:
        return [report.tag for report in self.received()]

    def close(self) -> None:
        self.sock.close()


async def ended(pid: int, timeout: float = 10.0) -> None:
    """Return once process `pid` has ended (a pidfd turns readable); fail after `timeout`."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with anyio.fail_after(timeout):
            await anyio.wait_readable(fd)
    finally:
        os.close(fd)
