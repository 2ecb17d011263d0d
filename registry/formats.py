"""Model file formats: which file in a version folder holds the model, and what it is.

A version folder holds exactly one model file; its name says how to load it. Pickle runs
code when it loads; skops and ONNX do not (see the README's trust model).
"""

from enum import StrEnum


class ModelFormat(StrEnum):
    """A model file format, named by the file that holds it."""

    PICKLE = "model.joblib"
    SKOPS = "model.skops"
    ONNX = "model.onnx"

    @property
    def runs_code(self) -> bool:
        """Loading a file of this format can run code that the file carries."""
        return self is ModelFormat.PICKLE

    @property
    def label(self) -> str:
        return {"model.joblib": "pickle", "model.skops": "skops", "model.onnx": "onnx"}[self.value]


MODEL_FILES = tuple(fmt.value for fmt in ModelFormat)
