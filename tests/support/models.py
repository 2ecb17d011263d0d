"""Small real scikit-learn models and version folders for tests."""

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from regwatch.registry import ModelRegistry

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def iris_model(c: float = 1.0) -> LogisticRegression:
    x, y = load_iris(return_X_y=True)
    return LogisticRegression(C=c, max_iter=500).fit(x, y)


def publish(root: Path, version: str, model: Any = None, metadata: dict | None = None) -> str:
    """Atomic publish through the library, as `regwatch publish` does."""
    return ModelRegistry(root, scan=False).save_model(version, model or iris_model(), metadata)


def build_folder(
    where: Path, model: Any = None, metadata: dict | None = None, model_bytes: bytes | None = None
) -> Path:
    """A finished version folder outside the registry, ready to `mv` or copy in."""
    where.mkdir(parents=True)
    if model_bytes is not None:
        (where / "model.joblib").write_bytes(model_bytes)
    else:
        joblib.dump(model if model is not None else iris_model(), where / "model.joblib")
    (where / "metadata.json").write_text(json.dumps(metadata if metadata is not None else {}))
    return where


def move_in(folder: Path, root: Path, name: str) -> Path:
    """Drop a finished folder into the registry with one rename (the atomic way)."""
    target = root / "versions" / name
    (root / "versions").mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    return target


def copy_in(folder: Path, root: Path, name: str) -> Path:
    """Drop a folder in with a non-atomic recursive copy, like `cp -r`."""
    target = root / "versions" / name
    shutil.copytree(folder, target)
    return target


def pickled_by_other_sklearn(path: Path, version: str = "1.0.2") -> None:
    """Write a model whose pickle claims another scikit-learn version (as an old one would)."""
    import sklearn.base

    real = sklearn.base.__version__
    sklearn.base.__version__ = version
    try:
        joblib.dump(iris_model(), path)
    finally:
        sklearn.base.__version__ = real


def write_slowly(path: Path, data: bytes, chunks: int, pause: float, between: Callable[[], None]) -> None:
    """Write `data` in chunks, stalling between them as a slow network copy does, and
    calling `between()` while the file is still partial."""
    import time

    size = -(-len(data) // chunks)
    with path.open("wb") as fh:
        for start in range(0, len(data), size):
            if start:
                time.sleep(pause)  # the scenario itself: a writer that stalls mid-file
                between()
            fh.write(data[start : start + size])
            fh.flush()
            os.fsync(fh.fileno())
