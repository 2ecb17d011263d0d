"""`regwatch publish --as skops|onnx` through the real CLI process: converted, checked
against the original, published atomically; refused, with nothing published, otherwise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from support.custom_models import custom_model
from support.models import IRIS_ROW, iris_model
from typer.testing import CliRunner

from regwatch.cli import app
from regwatch.cli import convert as converting
from regwatch.registry import ModelFormat, ModelRegistry
from regwatch.serving import load_model_bytes

TESTS = str(Path(__file__).parents[1])


def regwatch(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI, able to import the tests' own estimator classes (as a user's would)."""
    env = {**os.environ, "PYTHONPATH": TESTS}
    return subprocess.run(
        [sys.executable, "-m", "regwatch.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("target", ["skops", "onnx"])
def test_publish_as_converts_checks_and_publishes(root, tmp_path, target):
    model = iris_model()
    joblib.dump(model, tmp_path / "m.joblib")
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"examples": {"instances": rows}}))
    done = regwatch(
        "publish", str(tmp_path / "m.joblib"), "--version", "1.0.0", "--as", target,
        "--metadata", str(meta), "-r", str(root),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    state = ModelRegistry(root).resolve("1.0.0")
    assert state.format is ModelFormat(f"model.{target}") and state.model_path.name == f"model.{target}"
    assert state.metadata["n_features"] == 4 and len(state.metadata["sha256"]) == 64
    loaded = load_model_bytes(state.format, state.model_path.read_bytes())
    probe = np.random.default_rng(1).normal(5, 2, size=(200, 4))
    assert loaded.predict(probe).tolist() == model.predict(probe).tolist()
    assert np.allclose(loaded.predict_proba(probe), model.predict_proba(probe), atol=1e-6)
    shown = json.loads(regwatch("show", "1.0.0", "-r", str(root)).stdout)
    assert shown["format"] == target
    assert f"1.0.0            {target}" in regwatch("ls", "-r", str(root)).stdout


def test_a_model_the_converter_cannot_handle_is_refused_and_nothing_is_published(root, tmp_path):
    joblib.dump(custom_model(), tmp_path / "custom.joblib")
    refused = regwatch(
        "publish", str(tmp_path / "custom.joblib"), "--version", "1.0.0", "--as", "onnx", "-r", str(root)
    )
    assert refused.returncode == 1
    assert "cannot publish as onnx: skl2onnx cannot convert CustomLogistic" in refused.stderr
    assert list((root / "versions").iterdir()) == []
    (tmp_path / "garbage.joblib").write_bytes(b"\x80\x04garbage")
    broken = regwatch(
        "publish", str(tmp_path / "garbage.joblib"), "--version", "1.0.0", "--as", "skops", "-r", str(root)
    )
    assert broken.returncode == 1 and "cannot load" in broken.stderr and "Traceback" not in broken.stderr


def test_a_conversion_that_predicts_differently_is_refused_and_nothing_is_published(
    root, tmp_path, monkeypatch
):
    joblib.dump(iris_model(), tmp_path / "m.joblib")
    x = np.random.default_rng(0).normal(size=(150, 4))
    other = iris_model().fit(x, np.arange(150) % 3)  # the same type, trained on noise
    real_convert = converting.convert
    monkeypatch.setattr(converting, "convert", lambda model, fmt, rows: real_convert(other, fmt, rows))
    result = CliRunner().invoke(
        app, ["publish", str(tmp_path / "m.joblib"), "--version", "1.0.0", "--as", "skops", "-r", str(root)]
    )
    assert result.exit_code == 1
    assert "the skops model predicts other labels on" in result.output
    assert list((root / "versions").iterdir()) == []
