"""The MLServer peer: Seldon MLServer 1.7 + mlserver-sklearn in its own venv
(`bench/peers/setup.sh`), serving the very model file regwatch serves, over the V2
inference protocol; with and without its adaptive batching."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.servers import PEER_PY
from tests.support.server import REPO


@dataclass(frozen=True)
class Batching:
    """MLServer's adaptive batching knobs (model-settings.json) and its worker count."""

    max_batch_size: int
    max_batch_time_ms: float
    workers: int = 0

    @property
    def label(self) -> str:
        workers = f", {self.workers} parallel worker" if self.workers else ""
        return f"max_batch_size {self.max_batch_size}, max_batch_time {self.max_batch_time_ms:g} ms{workers}"


# The configuration issue 12 names first, then smaller batches and shorter waits (one-row
# requests from 16 clients can never fill 32), and one parallel worker.
CONFIGS = (
    Batching(32, 2.0),
    Batching(16, 2.0),
    Batching(8, 1.0),
    Batching(32, 0.5),
    Batching(32, 2.0, workers=1),
)


def install() -> str | None:
    """Create bench/peers/.venv when it is missing; the reason it failed, else None."""
    setup = REPO / "bench" / "peers" / "setup.sh"
    r = subprocess.run(["bash", str(setup)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return "MLServer could not be installed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]
    return None


def version() -> str:
    return subprocess.run(
        [str(PEER_PY), "-c", "import mlserver; print(mlserver.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()


def model_dir(where: Path, model_path: Path, batching: Batching | None) -> Path:
    """A model repository folder holding `iris`: the model file and its model-settings.json."""
    where.mkdir(parents=True)
    shutil.copyfile(model_path, where / "model.joblib")
    settings: dict[str, object] = {
        "name": "iris",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "v1"},
    }
    if batching is not None:
        settings |= {
            "max_batch_size": batching.max_batch_size,
            "max_batch_time": batching.max_batch_time_ms / 1000,
        }
    (where / "model-settings.json").write_text(json.dumps(settings))
    return where
