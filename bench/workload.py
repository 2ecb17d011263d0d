"""What the servers are fed: the requests, the models, version folders and a publisher."""

import asyncio
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import loadgen

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
PREDICT = loadgen.post_json("/predict", {"instances": [IRIS_ROW]})
V2_INFER = loadgen.post_json(
    "/v2/models/iris/infer",
    {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]},
)


def iris_model() -> tuple[Any, dict[str, Any]]:
    """The demo pipeline (StandardScaler + LogisticRegression on iris) and its metadata."""
    from regwatch.cli.demo import train_demo_model

    return train_demo_model()


def big_model(target_mb: float = 20.0) -> Any:
    """A ~20 MB scikit-learn model: brute-force k-NN keeps its training set (float64 X + int y)."""
    from sklearn.neighbors import KNeighborsClassifier

    rows = int(target_mb * 1024 * 1024 / (4 * 8 + 8))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    y = (x[:, 0] > 0).astype(np.int64)
    return KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(x, y)


class Template:
    """One model file on disk plus the metadata every copy of it carries (with its sha256
    unless `sha256=False`)."""

    def __init__(self, path: Path, metadata: dict[str, Any] | None = None, *, sha256: bool = True) -> None:
        self.path = path
        self.metadata = {**(metadata or {}), "n_features": 4}
        if sha256:
            self.metadata["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        self.meta_bytes = json.dumps(self.metadata).encode()

    def build(self, folder: Path, link: bool = False) -> Path:
        """A complete version folder (written elsewhere, to be renamed into versions/)."""
        folder.mkdir(parents=True)
        if link:
            os.link(self.path, folder / "model.joblib")
        else:
            shutil.copyfile(self.path, folder / "model.joblib")
        (folder / "metadata.json").write_bytes(self.meta_bytes)
        return folder


class Versions:
    """Increasing version names, unique across the whole run."""

    def __init__(self, major: int) -> None:
        self.major = major
        self.minor = 0

    def next(self) -> str:
        self.minor += 1
        return f"{self.major}.{self.minor}.0"


class Publisher:
    """Publishes a new version every `period` seconds (atomic `save_model`) in a thread."""

    def __init__(
        self, root: Path, model: Any, metadata: dict[str, Any], versions: Versions, period: float
    ) -> None:
        from regwatch.registry import ModelRegistry

        self.registry = ModelRegistry(root, scan=False)
        self.model, self.metadata = model, metadata
        self.versions = versions
        self.period = period
        self.published: list[str] = []
        self.publish_seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            version = self.versions.next()
            t0 = time.perf_counter()
            self.registry.save_model(version, self.model, dict(self.metadata))
            self.publish_seconds.append(time.perf_counter() - t0)
            self.published.append(version)
            next_at += self.period
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    async def __aenter__(self) -> dict[str, Any]:
        self._thread.start()
        return {"published": self.published}

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join)
