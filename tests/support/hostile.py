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
from typing import Any

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


class Beacon:
    """A datagram socket that a pickle built with `step()` reports to, with its pid, each
    time it is unpickled: tells a test that a load has started (no polling) and counts loads."""

    def __init__(self) -> None:
        self.address = f"\0regwatch-test-{uuid.uuid4().hex}"  # abstract: no file, no path limit
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.setblocking(False)

    def step(self) -> Call:
        sender = Call(socket.socket, int(socket.AF_UNIX), int(socket.SOCK_DGRAM))
        pid = Call(str.encode, Call(str, Call(os.getpid)))
        return Call(socket.socket.sendto, sender, pid, self.address)

    async def next(self, timeout: float = 20.0) -> int:
        """The pid of the next process that unpickles a beacon pickle."""
        with anyio.fail_after(timeout):
            while True:
                await anyio.wait_readable(self.sock)
                try:
                    return int(self.sock.recv(64))
                except BlockingIOError:
                    continue

    def received(self) -> list[int]:
        """The pids reported since the last call (every load that has started)."""
        pids = []
        while True:
            try:
                pids.append(int(self.sock.recv(64)))
            except BlockingIOError:
                return pids

    def close(self) -> None:
        self.sock.close()


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
