"""Loading and validating one model file: the only place that unpickles anything.

Runs in a worker thread. A model is accepted only when it unpickles cleanly, was pickled
by this scikit-learn version (unless allowed), has `predict`, and agrees with the
metadata's `n_features`.
"""

import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
from sklearn.exceptions import InconsistentVersionWarning

from regwatch.registry import VersionState

# warnings.catch_warnings mutates process-global state: one load at a time.
_load_lock = threading.Lock()


class LoadError(Exception):
    """The model could not be loaded or failed validation; the message says why."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    model: Any
    fingerprint: tuple[int, ...]
    n_features: int | None
    metadata: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0
    warnings: tuple[str, ...] = ()


def load_model(path: Path, state: VersionState, allow_version_mismatch: bool) -> LoadedModel:
    """Unpickle `path` (the model file of `state`, already checked to be inside the registry)."""
    started = time.perf_counter()
    notes: list[str] = []
    with _load_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        try:
            model = joblib.load(path)
        except Exception as exc:  # unpickling runs arbitrary code; any failure is a bad file
            raise LoadError(f"cannot unpickle model.joblib: {type(exc).__name__}: {exc}") from None
    for warning in caught:
        if issubclass(warning.category, InconsistentVersionWarning):
            message = warning.message
            mismatch = (
                f"model was pickled with scikit-learn {message.original_sklearn_version}, "
                f"this server runs {message.current_sklearn_version}"
            )
            if not allow_version_mismatch:
                raise LoadError(mismatch + " (set REGWATCH_ALLOW_VERSION_MISMATCH=true to load it anyway)")
            notes.append(mismatch)
    if not callable(getattr(model, "predict", None)):
        raise LoadError(f"{type(model).__name__} object has no predict() method")
    declared = state.metadata.get("n_features")
    actual = getattr(model, "n_features_in_", None)
    if declared is not None and actual is not None and int(actual) != declared:
        raise LoadError(f"model expects {int(actual)} features but metadata n_features says {declared}")
    return LoadedModel(
        version=state.name,
        model=model,
        fingerprint=state.fingerprint,
        n_features=int(actual) if actual is not None else declared,
        metadata=dict(state.metadata),
        load_seconds=time.perf_counter() - started,
        warnings=tuple(notes),
    )
