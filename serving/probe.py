"""The probe: a child process loads a model file before the server does.

Unpickling runs arbitrary code, and even the formats that run none (skops, ONNX) are
parsed by native code a malformed or huge file can crash or bloat. A file that segfaults,
never returns or inflates to more memory than the machine has would take the server down
with it (and, loaded again at every start, crash-loop it). So a child gets the very bytes
the server will load, loads them under an address-space limit, validates and warms the
model up, and reports back as JSON (never a pickle: the child ran untrusted code). The
parent kills it (SIGKILL) when the timeout expires or the load is cancelled; a child whose
parent died kills itself (SIGALRM).

Children are forked from a `multiprocessing` forkserver that has numpy, scipy, joblib, the
common scikit-learn estimator modules and every `regwatch` module the server has imported
already loaded, so a probe costs a fork and a pipe copy, not an interpreter start. (Python
3.11's forkserver re-runs a main *script*, such as the `regwatch` console script, in every
child; with its imports preloaded that is cheap.) A model needing a module outside the
preload still loads; its probe pays for that import.

What the probe cannot do: stop a pickle that behaves differently in the server than in the
child. Pickle is code and the volume must be trusted (DESIGN.md); the probe guards against
broken, incompatible and bloated files, not against an adversary who adapts.
"""

import dataclasses
import json
import math
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
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
    "__main__",  # multiprocessing's default (a no-op on Python 3.11, see above)
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
_CONTEXT = multiprocessing.get_context("forkserver")


def start_forkserver() -> None:
    """Start the forkserver unless it runs (it imports for a second or two, in the background)."""
    ours = sorted(m for m in sys.modules if m.startswith("regwatch.") and not m.endswith(".__main__"))
    _CONTEXT.set_forkserver_preload(PRELOAD + ours)  # only read when it starts
    multiprocessing.forkserver.ensure_running()


@dataclass(frozen=True)
class ProbeReport:
    warnings: tuple[str, ...]
    seconds: float


class Probe:
    """One model file checked in one child process. `cancel()` may come from any thread."""

    def __init__(self, policy: LoadPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()  # orders start/kill against cancel/expiry, never an unpickle
        self._process: Any = None  # multiprocessing's Process of the forkserver context
        self._cancelled = False
        self._timed_out = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            self._kill()

    def _expire(self) -> None:
        with self._lock:
            self._timed_out = True
            self._kill()

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()  # a no-op once it has been reaped

    def run(self, fmt: ModelFormat, data: bytes, metadata: Mapping[str, Any]) -> ProbeReport:
        """Check `data` in a child (blocking). LoadError says why it failed; LoadCancelled."""
        started = time.perf_counter()
        ours, theirs = _CONTEXT.Pipe()
        with ours:
            with theirs:  # closed once the child holds its copy: when it dies, `ours` reads EOF
                process = self._start(theirs, fmt, metadata)
            try:
                reply = self._exchange(ours, data)
            finally:
                with self._lock:
                    self._kill()  # done with it: no need to wait for its interpreter to exit
                process.join()
        if self._cancelled:
            raise LoadCancelled("cancelled while the probe ran")
        report = _parse(reply) if reply is not None else None
        if report is None:
            raise LoadError(self._death_reason(process.exitcode))
        if "error" in report:
            raise LoadError(str(report["error"]))
        return ProbeReport(tuple(str(note) for note in report["warnings"]), time.perf_counter() - started)

    def _start(self, theirs: Connection, fmt: ModelFormat, metadata: Mapping[str, Any]) -> Any:
        request = json.dumps(
            {"format": fmt.value, "metadata": metadata, "policy": dataclasses.asdict(self.policy)}
        )
        process = _CONTEXT.Process(target=_child, args=(theirs, request), name="regwatch-probe", daemon=True)
        start_forkserver()
        with self._lock:
            if self._cancelled:
                raise LoadCancelled("cancelled before the probe started")
            process.start()
            self._process = process
        return process

    def _exchange(self, ours: Connection, data: bytes) -> bytes | None:
        """Send the model bytes and wait for the report; None when the child died first
        (crashed, or killed on timeout or cancel), or sent more than a report."""
        timer = threading.Timer(self.policy.timeout, self._expire)
        timer.daemon = True
        timer.start()
        try:
            ours.send_bytes(data)
            return ours.recv_bytes(_MAX_REPORT)
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
        isinstance(report.get("warnings"), list) or isinstance(report.get("error"), str)
    )
    return report if valid else None


# -- in the child --------------------------------------------------------------------------


def _child(conn: Connection, request: str) -> None:
    """Entry point of the probe child: read the bytes, check them, report."""
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
    """Allow `extra` bytes of address space above what the child maps now (the forkserver's
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
