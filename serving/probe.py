"""The probe: a child process loads a model file before the server does.

Unpickling runs arbitrary code, and even the formats that run none (skops, ONNX) are
parsed by native code a malformed or huge file can crash or bloat. A file that segfaults,
never returns or inflates to more memory than the machine has would take the server down
with it (and, loaded again at every start, crash-loop it). So a child gets the very bytes
the server will load, loads them under an address-space limit, validates and warms the
model up, and reports back as JSON (never a pickle: the child ran untrusted code). The
parent kills it (SIGKILL) when the timeout expires or the load is cancelled; a child whose
parent died kills itself (SIGALRM).

Children are forked by a zygote (`zygote.py`) that has numpy, scipy, joblib, the common
scikit-learn estimator modules and every `regwatch` module the server has imported already
loaded, so a probe costs a fork and a socket copy (a few ms), not an interpreter start
(`multiprocessing`'s forkserver cost ~35 ms a child: it re-runs the main script and pickles
the process object). A model needing a module outside the preload still loads; its probe
pays for that import.

What the probe cannot do: stop a pickle that behaves differently in the server than in the
child. Pickle is code and the volume must be trusted (DESIGN.md); the probe guards against
broken, incompatible and bloated files, not against an adversary who adapts.
"""

import dataclasses
import json
import math
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from pydantic import ByteSize
from sklearn.exceptions import InconsistentVersionWarning

from regwatch.registry import ModelFormat

from .errors import LoadCancelled, LoadError
from .gate import admit, load
from .policy import LoadPolicy

PRELOAD = [
    "numpy",
    "scipy.sparse",
    "joblib",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.tree",
    "sklearn.svm",
    "sklearn.neighbors",
    "sklearn.naive_bayes",
    "sklearn.impute",
    "sklearn.decomposition",
    "skops.io",
    "onnxruntime",
]
_MAX_REPORT = 64 * 1024
SYS_PATH_VARIABLE = "REGWATCH_ZYGOTE_SYS_PATH"  # the server's sys.path, handed to the zygote


class _Zygote:
    """The one zygote of this server process, started on first use and again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def ensure_running(self) -> None:
        """Start it unless it runs (it imports for a second or two); return once it is ready."""
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                return
            ours, theirs = socket.socketpair()
            preload = PRELOAD + sorted(
                m for m in sys.modules if m.startswith("regwatch.") and not m.endswith(".__main__")
            )
            command = [sys.executable, "-m", "regwatch.serving.zygote", str(theirs.fileno()), *preload]
            # The server's import path, as it is now: a model's classes import in the child
            # exactly when they would in the server (multiprocessing passes it the same way).
            env = {**os.environ, SYS_PATH_VARIABLE: json.dumps(sys.path)}
            self._process = subprocess.Popen(
                command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env
            )
            theirs.close()
            if ours.recv(1) != b"r":
                raise LoadError("the probe zygote did not start")
            self._control = ours

    def fork_onto(self, theirs: socket.socket) -> None:
        """Have the zygote fork a probe child whose end of the conversation is `theirs`."""
        self.ensure_running()
        with self._lock:
            assert self._control is not None
            socket.send_fds(self._control, [b"p"], [theirs.fileno()])
        theirs.close()


_ZYGOTE = _Zygote()


def start_zygote() -> None:
    """Start the zygote ahead of the first probe (blocking: call it in a worker thread)."""
    _ZYGOTE.ensure_running()


@dataclass(frozen=True)
class ProbeReport:
    warnings: tuple[str, ...]
    seconds: float


class Probe:
    """One model file checked in one child process. `cancel()` may come from any thread."""

    def __init__(self, policy: LoadPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()  # orders start/kill against cancel/expiry, never an unpickle
        self._child: int | None = None  # a pidfd: kills the child, never a reused pid
        self._cancelled = threading.Event()
        self._timed_out = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            self._kill()

    def _expire(self) -> None:
        with self._lock:
            self._timed_out = True
            self._kill()

    def _kill(self) -> None:
        if self._child is not None:
            try:
                signal.pidfd_send_signal(self._child, signal.SIGKILL)
            except ProcessLookupError:  # it has ended already
                pass

    def run(self, fmt: ModelFormat, data: bytes, metadata: Mapping[str, Any]) -> ProbeReport:
        """Check `data` in a child (blocking). LoadError says why it failed; LoadCancelled."""
        started = time.perf_counter()
        with self._lock:
            if self._cancelled.is_set():
                raise LoadCancelled("cancelled before the probe started")
        ours, theirs = socket.socketpair()
        _ZYGOTE.fork_onto(theirs)
        with Connection(ours.detach()) as conn:
            first = _parse(conn.recv_bytes(_MAX_REPORT))
            if first is None or not isinstance(first.get("pid"), int):
                raise LoadError("the probe zygote answered nonsense")
            with self._lock:
                self._child = os.pidfd_open(first["pid"])
                if self._cancelled.is_set():
                    self._kill()
            try:
                reply = self._exchange(conn, fmt, data, metadata)
            finally:
                with self._lock:
                    os.close(self._child)
                    self._child = None
        if self._cancelled.is_set():
            raise LoadCancelled("cancelled while the probe ran")
        if reply is None or "exit" in reply:
            raise LoadError(self._death_reason(reply.get("exit") if reply else None))
        if "error" in reply:
            raise LoadError(str(reply["error"]))
        return ProbeReport(tuple(str(note) for note in reply["warnings"]), time.perf_counter() - started)

    def _exchange(
        self, conn: Connection, fmt: ModelFormat, data: bytes, metadata: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Send the request and the model bytes; the child's report, or the zygote's word of
        its exit when it died first (crashed, or killed on timeout or cancel)."""
        request = json.dumps(
            {"format": fmt.value, "metadata": metadata, "policy": dataclasses.asdict(self.policy)}
        )
        timer = threading.Timer(self.policy.timeout, self._expire)
        timer.daemon = True
        timer.start()
        try:
            conn.send_bytes(request.encode())
            conn.send_bytes(data)
            return _parse(conn.recv_bytes(_MAX_REPORT))
        except (EOFError, OSError):
            return None
        finally:
            timer.cancel()

    def _death_reason(self, exitcode: int | None) -> str:
        if self._timed_out:
            return f"timed out after {self.policy.timeout:g} s"
        if exitcode is not None and exitcode < 0:
            return f"crashed (signal {-exitcode})"
        return f"the probe exited with status {exitcode} without a report"


def _parse(reply: bytes) -> dict[str, Any] | None:
    try:
        report = json.loads(reply)
    except ValueError:
        return None
    valid = isinstance(report, dict) and (
        isinstance(report.get("warnings"), list)
        or isinstance(report.get("error"), str)
        or isinstance(report.get("exit"), int)
        or isinstance(report.get("pid"), int)
    )
    return report if valid else None


# -- in the child --------------------------------------------------------------------------


def child_main(conn: Connection) -> None:
    """Entry point of a probe child (forked by the zygote): the request, then the bytes."""
    _child(conn, conn.recv_bytes().decode())


def _child(conn: Connection, request: str) -> None:
    """Check the bytes that follow the request; report."""
    spec = json.loads(request)
    policy = LoadPolicy(**{**spec["policy"], "skops_trusted": tuple(spec["policy"]["skops_trusted"])})
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(math.ceil(policy.timeout) + 1)  # outlive an orphaned parent by a second at most
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash writes no core file
    data = conn.recv_bytes()
    _limit_address_space(policy.memory_limit)
    try:
        report: dict[str, Any] = {
            "warnings": _check(ModelFormat(spec["format"]), data, spec["metadata"], policy)
        }
    except MemoryError:
        limit = ByteSize(policy.memory_limit).human_readable(separator=" ")
        report = {"error": f"exceeded the memory limit of {limit} (REGWATCH_LOAD_MEMORY_LIMIT)"}
    except LoadError as exc:
        report = {"error": str(exc)}
    except Exception as exc:  # e.g. a model attribute that makes validation itself fail
        report = {"error": f"validation failed: {type(exc).__name__}: {exc}"}
    conn.send_bytes(json.dumps(report).encode())
    conn.close()


def _limit_address_space(extra: int) -> None:
    """Allow `extra` bytes of address space above what the child maps now (the zygote's
    imports, numpy's and OpenBLAS' reservations, the model bytes just received)."""
    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + extra if hard == resource.RLIM_INFINITY else min(mapped + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _check(fmt: ModelFormat, data: bytes, metadata: Mapping[str, Any], policy: LoadPolicy) -> list[str]:
    """Load, validate, warm up; the notes to report. `catch_warnings` is process-global
    state: fine here, in a single-threaded child, and the reason the server needs none.

    A scikit-learn version mismatch is caught for skops too (it restores the estimators'
    state just as unpickling does, and warns the same): the risk is wrong answers, not code.
    ONNX carries no scikit-learn objects, so it never warns."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        model = load(fmt, data, policy.skops_trusted)
    saved = "pickled" if fmt.runs_code else "saved"
    notes: dict[str, None] = {}  # one note per distinct mismatch, not one per estimator
    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            mismatch = (
                f"model was {saved} with scikit-learn {warning.message.original_sklearn_version}, "
                f"this server runs {warning.message.current_sklearn_version}"
            )
            if not policy.allow_version_mismatch:
                raise LoadError(mismatch + " (set REGWATCH_ALLOW_VERSION_MISMATCH=true to load it anyway)")
            notes[mismatch] = None
    admit(model, metadata)
    return list(notes)
