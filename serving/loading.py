"""Loading one version: read the file once, probe it in a child, then load the same bytes here.

`ModelLoad.run` blocks (a worker thread runs it). The model file is read once with
`read_verified` (no symlink, no FIFO, bounded by the memory limit, sha256 checked on these
very bytes); the probe child and then this process load exactly those bytes, whatever the
format (pickle, skops, ONNX), so a file replaced or edited in between is never the one
loaded. No lock is held anywhere: the child
reports warnings such as a scikit-learn version mismatch, so this process needs no
`warnings.catch_warnings` (process-global state).

Cost: the model is loaded twice (child, then here) plus a fork and a pipe copy of the
file; for a small model that is a few tens of milliseconds (the README gives figures).
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from regwatch.registry import CorruptVersion, VersionState
from regwatch.registry.files import read_verified

from .errors import LoadCancelled, LoadError
from .gate import admit, load
from .policy import LoadPolicy
from .probe import Probe


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: Any
    fingerprint: tuple[int, ...]
    n_features: int | None
    metadata: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0
    probe_seconds: float = 0.0
    warmup_seconds: float = 0.0
    warnings: tuple[str, ...] = ()


class ModelLoad:
    """One attempt to load one version's files. `cancel()` may come from any thread."""

    def __init__(self, state: VersionState, policy: LoadPolicy) -> None:
        self.state = state
        self.policy = policy
        self._probe = Probe(policy)
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop the load: its probe child is killed; `run` raises LoadCancelled."""
        self._cancelled.set()
        self._probe.cancel()

    def run(self) -> LoadedModel:
        """The loaded, validated, warmed-up model, or LoadError saying why not."""
        started = time.perf_counter()
        state = self.state
        if state.model_path is None or state.format is None:
            raise LoadError("the folder is not complete")
        try:
            # The bytes inspected are the bytes loaded: the same file (identity) and, with a
            # checksum, the same contents, read once here and never reopened.
            data = read_verified(
                state.model_path, state.sha256, self.policy.memory_limit, state.model_identity
            )
        except CorruptVersion as exc:
            raise LoadError(str(exc)) from None
        report = self._probe.run(state.format, data, state.metadata)
        if self._cancelled.is_set():
            raise LoadCancelled("cancelled after the probe")
        try:
            model = load(state.format, data, self.policy.skops_trusted)
        except MemoryError:
            raise LoadError("ran out of memory loading in the server after the probe passed") from None
        n_features, warmup_seconds = admit(model, self.state.metadata)
        notes = report.warnings
        if warmup_seconds is None:
            notes += ("no warm-up: the metadata gives neither examples nor n_features",)
        return LoadedModel(
            version=self.state.name,
            model=model,
            fingerprint=self.state.fingerprint,
            n_features=n_features,
            metadata=dict(self.state.metadata),
            load_seconds=time.perf_counter() - started,
            probe_seconds=report.seconds,
            warmup_seconds=warmup_seconds or 0.0,
            warnings=notes,
        )
