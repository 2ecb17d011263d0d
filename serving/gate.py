"""What a model goes through before it takes traffic: load (any format), validate, warm up.

The probe child and then the server run these on the same bytes: the child first, where a
crash, a hang or a bloat costs nothing, then the server on its own copy (which warms up the
very object that will answer requests and catches a model that behaves differently here).
"""

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from regwatch.registry import ModelFormat

from .errors import LoadError
from .formats import UnsupportedModel, load_model_bytes


def load(fmt: ModelFormat, data: bytes, skops_trusted: Sequence[str]) -> Any:
    """The model in `data`, or LoadError saying why not. MemoryError passes through: the
    probe reports it."""
    try:
        return load_model_bytes(fmt, data, skops_trusted)
    except MemoryError:
        raise
    except UnsupportedModel as exc:
        raise LoadError(str(exc)) from None
    except Exception as exc:  # unpickling runs arbitrary code, skops and onnx parse: a bad file
        verb = "unpickle" if fmt.runs_code else "load"
        raise LoadError(f"cannot {verb} {fmt.value}: {type(exc).__name__}: {exc}") from None


def validate(model: Any, metadata: Mapping[str, Any]) -> int | None:
    """The number of features the model takes; LoadError when it cannot serve at all."""
    if not callable(getattr(model, "predict", None)):
        raise LoadError(f"{type(model).__name__} object has no predict() method")
    declared = metadata.get("n_features")
    actual = getattr(model, "n_features_in_", None)
    if declared is not None and actual is not None and int(actual) != declared:
        raise LoadError(f"model expects {int(actual)} features but metadata n_features says {declared}")
    return int(actual) if actual is not None else declared


@dataclass(frozen=True)
class WarmUpSample:
    rows: Any  # a 2-D float64 array
    expected: list[Any] | None = None


def warm_up_sample(metadata: Mapping[str, Any], n_features: int | None) -> WarmUpSample | None:
    """The metadata's `examples` (checked for shape), else one row of zeros; None when the
    feature count is unknown too, so there is nothing to warm up with."""
    examples = metadata.get("examples")
    if examples is None:
        return WarmUpSample(np.zeros((1, n_features))) if n_features else None
    instances = examples.get("instances") if isinstance(examples, dict) else None
    if not isinstance(instances, list) or not instances:
        raise LoadError(
            'warm-up: metadata "examples" must be {"instances": [[...], ...], "predictions": [...]}'
        )
    try:
        rows = np.asarray(instances, dtype=np.float64)
    except (TypeError, ValueError):
        raise LoadError("warm-up: metadata examples instances must be rows of numbers") from None
    if rows.ndim != 2 or rows.shape[1] == 0 or not np.isfinite(rows).all():
        raise LoadError("warm-up: metadata examples instances must be non-empty rows of finite numbers")
    if n_features is not None and rows.shape[1] != n_features:
        raise LoadError(
            f"warm-up: metadata examples have {rows.shape[1]} features, the model takes {n_features}"
        )
    expected = examples.get("predictions")
    if expected is not None and (not isinstance(expected, list) or len(expected) != len(rows)):
        raise LoadError("warm-up: metadata examples predictions must be a list with one entry per instance")
    return WarmUpSample(rows, expected)


def _same(got: Any, want: Any) -> bool:
    """Equal, with float tolerance: examples are often written on another machine (BLAS)."""
    if isinstance(got, int | float) and isinstance(want, int | float):
        return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)
    return bool(got == want)


def warm_up(model: Any, sample: WarmUpSample) -> None:
    """Predict the sample; its predictions must match the expected ones when given."""
    try:
        got = np.asarray(model.predict(sample.rows))
    except MemoryError:
        raise
    except Exception as exc:
        raise LoadError(f"warm-up: predict raised {type(exc).__name__}: {exc}") from None
    if got.ndim == 0 or len(got) != len(sample.rows):
        raise LoadError(f"warm-up: predict returned shape {got.shape} for {len(sample.rows)} rows")
    if sample.expected is None:
        return
    for i, (answer, want) in enumerate(zip(got.tolist(), sample.expected, strict=True)):
        if not _same(answer, want):
            raise LoadError(f"warm-up: example {i} predicted {answer!r}, metadata examples expect {want!r}")


def admit(model: Any, metadata: Mapping[str, Any]) -> tuple[int | None, float | None]:
    """Validate and warm up: the feature count, and the warm-up's seconds (None: no warm-up)."""
    n_features = validate(model, metadata)
    sample = warm_up_sample(metadata, n_features)
    if sample is None:
        return n_features, None
    started = time.perf_counter()
    warm_up(model, sample)
    return n_features, time.perf_counter() - started
