"""The Open Inference Protocol (KServe V2) in JSON: the infer request's schema, the one input
tensor turned into feature rows, the outputs turned back into tensors, model metadata.

Pure functions over parsed bodies and loaded models: no routing, no service state. A request
the model cannot take raises `TensorError`, which the routes answer with 400.
"""

from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from regwatch.serving import LoadedModel

INPUT = "input-0"
PREDICT = "predict"
PROBA = "predict_proba"
# What the model computes on: every accepted datatype is converted to it (losslessly for FP32).
MODEL_DATATYPE = "FP64"

Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Int32 = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
Dim = Annotated[int, Field(strict=True, ge=0)]
Name = Annotated[str, Field(max_length=256)]


class _Input(BaseModel):
    name: Name
    shape: list[Dim] = Field(max_length=8)
    parameters: dict[str, Any] | None = None


# One class per datatype, told apart by `datatype`: `data` is numbers of that type, flat
# row-major or as rows, checked in the one parsing call (flat first: what clients send).
class FloatInput(_Input):
    datatype: Literal["FP32", "FP64"]
    data: list[Float] | list[list[Float]]


class Int32Input(_Input):
    datatype: Literal["INT32"]
    data: list[Int32] | list[list[Int32]]


class Int64Input(_Input):
    datatype: Literal["INT64"]
    data: list[Int64] | list[list[Int64]]


InputTensor = Annotated[FloatInput | Int32Input | Int64Input, Field(discriminator="datatype")]


class RequestedOutput(BaseModel):
    name: Name
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, max_length=256)
    parameters: dict[str, Any] | None = None
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None


class TensorError(ValueError):
    """The request is well-formed JSON but not something the model can take (a 400)."""


_NUMPY = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64}


def features(request: InferRequest, loaded: LoadedModel, max_batch: int) -> npt.NDArray[np.float64]:
    """The rows to predict: the one input, shaped `[N, n_features]`, as float64."""
    if len(request.inputs) != 1:
        raise TensorError(f"the model takes one input, {INPUT!r}; got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name != INPUT:
        raise TensorError(f"unknown input {tensor.name!r}; the model takes one input, {INPUT!r}")
    shape = tensor.shape
    if len(shape) != 2:
        raise TensorError(f"input {INPUT}: shape must be [N, n_features], got {shape}")
    rows, width = shape
    if rows == 0 or width == 0:
        raise TensorError(f"input {INPUT}: shape {shape} holds no values")
    if rows > max_batch:
        raise TensorError(f"input {INPUT}: batch of {rows} rows exceeds the limit of {max_batch}")
    if loaded.n_features is not None and width != loaded.n_features:
        raise TensorError(f"input {INPUT}: expects {loaded.n_features} features per row, got shape {shape}")
    try:
        array = _array(tensor.data, tensor.datatype)
    except ValueError:
        raise TensorError(f"input {INPUT}: nested data must be rows of the same length") from None
    if array.size != rows * width:
        raise TensorError(f"input {INPUT}: data has {array.size} values, shape {shape} needs {rows * width}")
    if array.ndim == 2 and array.shape != (rows, width):
        raise TensorError(f"input {INPUT}: nested data is {list(array.shape)}, shape says {shape}")
    if tensor.datatype == "FP32" and not np.isfinite(array).all():
        raise TensorError(f"input {INPUT}: a value is out of the FP32 range")
    return array.reshape(rows, width).astype(np.float64, copy=False)


def _array(data: list[Any], datatype: str) -> npt.NDArray[Any]:
    if datatype == "FP32":
        with np.errstate(over="ignore"):  # a value beyond FP32's range becomes inf: refused
            return np.asarray(data, dtype=np.float32)
    return np.asarray(data, dtype=_NUMPY[datatype])


def outputs(request: InferRequest, loaded: LoadedModel) -> list[str]:
    """The outputs asked for (default: `predict`), each one the model has."""
    if not request.outputs:
        return [PREDICT]
    names = list(dict.fromkeys(output.name for output in request.outputs))
    offered = _outputs(loaded.model)
    for name in names:
        if name not in offered:
            raise TensorError(f"no output {name!r}; the model has {offered}")
    return names


def tensor(name: str, values: npt.NDArray[Any]) -> dict[str, Any]:
    """An output tensor: flat row-major data, its shape and datatype."""
    datatype = datatype_of(values.dtype)
    flat = values.ravel().tolist()
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(values.shape),
        "data": [str(value) for value in flat] if datatype == "BYTES" else flat,
    }


def datatype_of(dtype: np.dtype[Any]) -> str:
    if dtype.kind == "b":
        return "BOOL"
    prefix = {"i": "INT", "u": "UINT", "f": "FP"}.get(dtype.kind)
    return f"{prefix}{dtype.itemsize * 8}" if prefix else "BYTES"


def model_metadata(name: str, versions: list[str], loaded: LoadedModel) -> dict[str, Any]:
    """Model metadata as the protocol gives it; shapes come from the loaded model."""
    model = loaded.model
    width = loaded.n_features if loaded.n_features is not None else -1
    classes = getattr(model, "classes_", None)
    predict = {
        "name": PREDICT,
        "datatype": datatype_of(np.asarray(classes).dtype) if classes is not None else MODEL_DATATYPE,
        "shape": [-1],
    }
    described = [predict]
    if PROBA in _outputs(model):
        n_classes = len(classes) if classes is not None else -1
        described.append({"name": PROBA, "datatype": MODEL_DATATYPE, "shape": [-1, n_classes]})
    return {
        "name": name,
        "versions": versions,
        # The library the model object comes from (`sklearn` for scikit-learn estimators).
        "platform": type(model).__module__.partition(".")[0],
        "inputs": [{"name": INPUT, "datatype": MODEL_DATATYPE, "shape": [-1, width]}],
        "outputs": described,
    }


def _outputs(model: Any) -> list[str]:
    return [PREDICT, PROBA] if hasattr(model, PROBA) else [PREDICT]
