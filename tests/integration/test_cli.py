"""The `regwatch` command line, run as a real process against a real folder."""

import json
import subprocess
import sys

import joblib
from support.models import iris_model


def regwatch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regwatch.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_demo_ls_latest_show(root):
    assert regwatch("ls", "--registry", str(root), "--quiet").stdout == ""
    assert regwatch("latest", "--registry", str(root)).returncode == 1
    assert regwatch("demo", "--registry", str(root)).returncode == 0
    assert regwatch("demo", "--registry", str(root)).returncode == 0
    assert regwatch("ls", "-r", str(root), "-q").stdout.split() == ["1.0.0", "1.1.0"]
    assert regwatch("latest", "-r", str(root)).stdout.strip() == "1.1.0"
    shown = json.loads(regwatch("show", "1.0", "-r", str(root)).stdout)
    assert shown["version"] == "1.0.0" and shown["metadata"]["dataset"] == "iris"
    missing = regwatch("show", "7.0.0", "-r", str(root))
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_publish_a_joblib_file_with_metadata(root, tmp_path):
    model_file = tmp_path / "m.joblib"
    joblib.dump(iris_model(), model_file)
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"description": "from a file", "owner": "ml-team"}))
    done = regwatch(
        "publish", str(model_file), "--version", "2.0.0", "--metadata", str(meta), "-r", str(root)
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(regwatch("show", "2.0.0", "-r", str(root)).stdout)["metadata"]
    assert shown["owner"] == "ml-team" and len(shown["sha256"]) == 64
    again = regwatch("publish", str(model_file), "--version", "2.0.0", "-r", str(root))
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = regwatch("publish", str(model_file), "--version", "../x", "-r", str(root))
    assert bad.returncode == 1 and "PEP 440" in bad.stderr


def test_registry_comes_from_the_environment(root):
    import os

    env = {**os.environ, "REGWATCH_REGISTRY": str(root)}
    assert regwatch("demo", env=env).returncode == 0
    assert regwatch("latest", env=env).stdout.strip() == "1.0.0"


def test_ls_reports_rejected_folders(root):
    (root / "versions" / "_staging").mkdir()
    out = regwatch("ls", "-r", str(root)).stdout
    assert "_staging" in out and "rejected" in out
