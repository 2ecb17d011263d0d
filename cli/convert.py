"""`regwatch publish --as skops|onnx`: convert a fitted estimator, and prove the result
predicts like the original before anything is published.

Labels must match exactly; scores (probabilities, regression outputs) within
`SCORE_RTOL`/`SCORE_ATOL` (ONNX may compute in float32). The check runs on the metadata's
`examples` when it has them, else on generated rows.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, is_classifier

from regwatch.registry.formats import ModelFormat
from regwatch.serving.formats import UnsupportedModel, load_model_bytes

SCORE_RTOL, SCORE_ATOL = 1e-4, 1e-5
GENERATED_ROWS = 64


class ConversionError(Exception):
    """The model cannot be converted, or the converted model predicts differently."""


def convert(model: Any, fmt: ModelFormat, rows: npt.NDArray[np.float64]) -> bytes:
    """`model` serialised as `fmt`; raises `ConversionError` with the converter's reason."""
    if not isinstance(model, BaseEstimator):
        raise ConversionError(f"{type(model).__name__} is not a scikit-learn estimator; only those convert")
    if fmt is ModelFormat.SKOPS:
        import skops.io as sio

        try:
            return bytes(sio.dumps(model))
        except Exception as exc:  # skops raises whatever the estimator's state raises
            raise ConversionError(f"skops cannot save {type(model).__name__}: {exc}") from None
    if fmt is ModelFormat.ONNX:
        from skl2onnx import to_onnx

        options = {"zipmap": False} if is_classifier(model) else None
        try:
            graph = to_onnx(model, rows[:1], options=options)
        except Exception as exc:  # skl2onnx raises its own untyped errors per converter
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(f"skl2onnx cannot convert {type(model).__name__}: {first_line}") from None
        return bytes(graph.SerializeToString())
    raise ConversionError(f"{fmt.label} is not a conversion target")


def convert_verified(
    model: Any, fmt: ModelFormat, metadata: Mapping[str, Any], skops_trusted: Sequence[str] = ()
) -> bytes:
    """`model` as `fmt`, proven to predict like the original on `check_rows`."""
    rows = check_rows(metadata, getattr(model, "n_features_in_", None))
    data = convert(model, fmt, rows)
    verify(model, fmt, data, rows, skops_trusted)
    return data


def check_rows(metadata: Mapping[str, Any], n_features: int | None) -> npt.NDArray[np.float64]:
    """The rows to compare on: the metadata's examples, else seeded random rows."""
    examples = metadata.get("examples")
    if isinstance(examples, Mapping) and examples.get("instances"):
        try:
            rows = np.asarray(examples["instances"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ConversionError("metadata examples instances must be rows of numbers") from None
        if rows.ndim != 2 or (n_features is not None and rows.shape[1] != n_features):
            raise ConversionError(f"metadata examples must be rows of {n_features} numbers")
        return rows
    width = n_features if n_features is not None else metadata.get("n_features")
    if not isinstance(width, int) or width < 1:
        raise ConversionError("the model does not say how many features it takes: give n_features")
    return np.random.default_rng(0).normal(size=(GENERATED_ROWS, width))


def verify(
    original: Any,
    fmt: ModelFormat,
    data: bytes,
    rows: npt.NDArray[np.float64],
    skops_trusted: Sequence[str] = (),
) -> None:
    """Load `data` as the server would (with its trusted skops types) and compare its
    answers with the original's."""
    try:
        converted = load_model_bytes(fmt, data, skops_trusted)
        expected, actual = np.asarray(original.predict(rows)), np.asarray(converted.predict(rows))
    except UnsupportedModel as exc:
        raise ConversionError(f"the converted model does not load: {exc}") from None
    except Exception as exc:  # the converted model fails where the original did not
        raise ConversionError(f"the {fmt.label} model fails: {type(exc).__name__}: {exc}") from None
    if is_classifier(original):
        if expected.shape != actual.shape:
            raise ConversionError(
                f"the {fmt.label} model predicts shape {actual.shape}, the original {expected.shape}"
            )
        mismatched = int(np.sum(expected != actual))
        if mismatched:
            raise ConversionError(
                f"the {fmt.label} model predicts other labels on {mismatched} of {len(rows)} rows"
            )
        if hasattr(original, "predict_proba") and hasattr(converted, "predict_proba"):
            _close("probabilities", original.predict_proba(rows), converted.predict_proba(rows), fmt)
    else:
        _close("predictions", expected, actual, fmt)


def _close(what: str, expected: npt.ArrayLike, actual: npt.ArrayLike, fmt: ModelFormat) -> None:
    a, b = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=SCORE_RTOL, atol=SCORE_ATOL):
        worst = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        raise ConversionError(
            f"the {fmt.label} model's {what} differ from the original's by up to {worst:.3g} "
            f"(tolerance rtol={SCORE_RTOL}, atol={SCORE_ATOL})"
        )
