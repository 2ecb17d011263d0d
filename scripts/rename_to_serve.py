"""Rename → first /predict answered by the new version, against a real `regwatch serve`.

    .venv/bin/python scripts/rename_to_serve.py [--trials 40] [--settle-ms 50] [--busy-gb 0]

Prepares finished version folders (model + metadata with sha256) next to `versions/` on
the same file system, renames them in one at a time, and polls `POST /predict` back to
back until the renamed version answers. Prints p50 / p95 / max in milliseconds.
`--busy-gb N` first drops a folder whose (sparse) N GB model is still being checksummed
while the trials run: other folders must not wait for it.
"""

import argparse
import hashlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

import httpx
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def model_bytes() -> bytes:
    x, y = load_iris(return_X_y=True)
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), buffer)
    return buffer.getvalue()


def build(folder: Path, data: bytes) -> None:
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(data)
    metadata = {"sha256": hashlib.sha256(data).hexdigest(), "n_features": 4}
    (folder / "metadata.json").write_text(json.dumps(metadata))


def start_server(root: Path, settle_ms: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "REGWATCH_SETTLE_MS": str(settle_ms), "REGWATCH_ACCESS_LOG": "false"}
    command = [sys.executable, "-m", "regwatch.cli", "serve", "--registry", str(root), "--port", "0"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    for line in server.stdout:
        if match := re.search(r"Uvicorn running on (http://\S+)", line):
            threading.Thread(target=drain, args=(server.stdout,), daemon=True).start()
            return server, match.group(1)
    raise RuntimeError("the server did not start")


def drain(stream: IO[str]) -> None:
    """Keep reading the server's log so its pipe never fills."""
    for _ in stream:
        pass


def drop_busy_folder(root: Path, gigabytes: int) -> None:
    """A folder whose checksum takes a long time (it never matches, either)."""
    folder = root / "staging" / "0.9.0"
    folder.mkdir(parents=True)
    with (folder / "model.joblib").open("wb") as fh:
        fh.truncate(gigabytes << 30)
    (folder / "metadata.json").write_text(json.dumps({"sha256": "0" * 64}))
    os.rename(folder, root / "versions" / "0.9.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--settle-ms", type=int, default=50)
    parser.add_argument("--busy-gb", type=int, default=0)
    args = parser.parse_args()
    data = model_bytes()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "registry"
        build(root / "versions" / "1.0.0", data)
        names = [f"1.{i}.0" for i in range(1, args.trials + 1)]
        for name in names:
            build(root / "staging" / name, data)
        server, url = start_server(root, args.settle_ms)
        latencies: list[float] = []
        try:
            with httpx.Client(base_url=url, timeout=10) as client:
                while client.post("/predict", json=ROW).status_code != 200:
                    time.sleep(0.05)  # start-up: the first model loading
                if args.busy_gb:
                    drop_busy_folder(root, args.busy_gb)
                for name in names:
                    time.sleep(0.15)  # let the previous swap's follow-up work finish
                    started = time.perf_counter()
                    os.rename(root / "staging" / name, root / "versions" / name)
                    while client.post("/predict", json=ROW).json()["model_version"] != name:
                        pass
                    latencies.append((time.perf_counter() - started) * 1000)
        finally:
            server.terminate()
            server.wait(timeout=10)
    cuts = statistics.quantiles(latencies, n=20, method="inclusive")
    print(
        f"rename -> first /predict by it, {len(latencies)} trials, settle {args.settle_ms} ms, "
        f"{args.busy_gb} GB checksum under way: "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {cuts[18]:.1f} ms, max {max(latencies):.1f} ms"
    )


if __name__ == "__main__":
    main()
