"""Turning a model file's bytes into an object with `predict`, one loader per format.

Every loader takes the bytes already read and verified (`registry.files.read_verified`),
never a path: what was checksummed is what is loaded.
"""

import io
from collections.abc import Sequence
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from regwatch.registry.formats import ModelFormat


class UnsupportedModel(Exception):
    """The bytes are not a loadable model of their format; the message says why."""


def load_model_bytes(fmt: ModelFormat, data: bytes, skops_trusted: Sequence[str] = ()) -> Any:
    """The model in `data`. Raises `UnsupportedModel` for a file its format refuses."""
    if fmt is ModelFormat.PICKLE:
        return joblib.load(io.BytesIO(data))
    if fmt is ModelFormat.SKOPS:
        return _load_skops(data, skops_trusted)
    return open_onnx(data)


def _load_skops(data: bytes, trusted: Sequence[str]) -> Any:
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.loads(data, trusted=list(trusted))
    except UntrustedTypesFoundException:
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
        raise UnsupportedModel(
            f"model.skops holds untrusted types: {', '.join(untrusted)} "
            "(trust them with REGWATCH_SKOPS_TRUSTED if you mean to)"
        ) from None


def open_onnx(data: bytes) -> "OnnxModel":
    """An ONNX graph as a model; one with a probabilities output also has `predict_proba`.

    One intra-op thread: requests are many and small, and the server's own batching (not
    onnxruntime's thread pool) is what merges them.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # a bad graph is reported in the reason, not on stderr
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
        raise UnsupportedModel(f"model.onnx is not a valid ONNX model: {exc}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 2:
        raise UnsupportedModel("model.onnx must take one input of shape [N, n_features]")
    outputs = session.get_outputs()
    # skl2onnx names a classifier's outputs "label" and "probabilities"; only a plain tensor
    # (no ZipMap's list of dicts) can stand in for predict_proba.
    probabilities = next(
        (out.name for out in outputs[1:] if "prob" in out.name and out.type.startswith("tensor(")), None
    )
    if probabilities is None:
        return OnnxModel(session, outputs[0].name)
    return OnnxClassifier(session, outputs[0].name, probabilities)


class OnnxModel:
    """An ONNX session behind the calls the server makes of a scikit-learn model."""

    def __init__(self, session: Any, label: str) -> None:
        self._session = session
        source = session.get_inputs()[0]
        self._input = source.name
        self._dtype = np.float64 if source.type == "tensor(double)" else np.float32
        width = source.shape[1]
        self.n_features_in_: int | None = width if isinstance(width, int) else None
        self._label = label

    def _run(self, output: str, features: npt.ArrayLike) -> npt.NDArray[Any]:
        batch = np.asarray(features, dtype=self._dtype)
        result: npt.NDArray[Any] = self._session.run([output], {self._input: batch})[0]
        return result

    def predict(self, features: npt.ArrayLike) -> npt.NDArray[Any]:
        return np.ravel(self._run(self._label, features))


class OnnxClassifier(OnnxModel):
    def __init__(self, session: Any, label: str, probabilities: str) -> None:
        super().__init__(session, label)
        self._probabilities = probabilities

    def predict_proba(self, features: npt.ArrayLike) -> npt.NDArray[Any]:
        return self._run(self._probabilities, features)
