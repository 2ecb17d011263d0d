"""Many models from the command line: `--model` on every volume command, and `regwatch models`,
through the real console script against real folders."""

import json
import os

import joblib
from support.cli import regwatch, snapshot
from support.models import iris_model, publish


def test_model_flag_on_demo_publish_ls_show_latest(root, tmp_path):
    r = ("-r", str(root))
    made = regwatch("demo", *r, "--model", "fraud")
    assert made.returncode == 0, made.stderr
    assert (root / "models" / "fraud" / "versions" / "1.0.0" / "model.joblib").is_file()
    joblib.dump(iris_model(c=0.5), tmp_path / "m.joblib")
    done = regwatch("publish", str(tmp_path / "m.joblib"), "--version", "2.0.0", *r, "-m", "fraud")
    assert done.returncode == 0, done.stderr
    assert regwatch("ls", *r, "-m", "fraud", "-q").stdout.split() == ["1.0.0", "2.0.0"]
    assert regwatch("latest", *r, "--model", "fraud").stdout.strip() == "2.0.0"
    shown = json.loads(regwatch("show", "1.0", *r, "-m", "fraud").stdout)
    assert shown["version"] == "1.0.0" and shown["metadata"]["dataset"] == "iris"
    # The default model (the root's own versions/) is another model, untouched.
    assert regwatch("ls", *r, "-q").stdout == ""
    assert regwatch("ls", *r, "-m", "default", "-q").stdout == ""
    empty = regwatch("latest", *r)
    assert empty.returncode == 1 and "model default holds no complete version" in empty.stderr


def test_a_named_model_that_does_not_exist_is_not_created_by_reading_it(root):
    before = snapshot(root)
    for command in (["ls"], ["show", "1.0.0"], ["latest"]):
        missing = regwatch(*command, "-r", str(root), "--model", "churn")
        assert missing.returncode == 1
        assert (
            "no model 'churn'" in missing.stderr and "publishing a version to it creates it" in missing.stderr
        )
    assert snapshot(root) == before


def test_a_bad_model_name_is_refused_by_every_command_and_nothing_is_written(root, tmp_path):
    joblib.dump(iris_model(), tmp_path / "m.joblib")
    before = snapshot(tmp_path)
    for name, command in (
        ("../escape", ["demo"]),
        ("Fraud", ["publish", str(tmp_path / "m.joblib"), "--version", "1.0.0"]),
        (".hidden", ["ls"]),
        ("a/b", ["show", "1.0.0"]),
        ("x" * 65, ["latest"]),
    ):
        refused = regwatch(*command, "-r", str(root), "--model", name)
        assert refused.returncode == 1, (command, refused.stdout)
        assert f"{name!r} is not a model name" in refused.stderr
    assert snapshot(tmp_path) == before


def test_a_model_folder_the_server_refuses_is_refused_here_too(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    publish(elsewhere, "1.0.0")
    (root / "models").mkdir()
    (root / "models" / "linked").symlink_to(elsewhere)
    (root / "models" / "plain").write_text("not a folder")
    joblib.dump(iris_model(), tmp_path / "m.joblib")
    before = snapshot(tmp_path)
    for name, why in (("linked", "a symlink"), ("plain", "not a folder")):
        for command in (["ls"], ["publish", str(tmp_path / "m.joblib"), "--version", "2.0.0"]):
            refused = regwatch(*command, "-r", str(root), "-m", name)
            assert refused.returncode == 1 and f"model {name!r} is refused: {why}" in refused.stderr
    assert snapshot(tmp_path) == before


def test_models_lists_the_default_first_then_named_sorted_then_the_refused(root):
    publish(root, "1.0.0")
    publish(root, "1.1.0")
    publish(root / "models" / "zeta", "3.0.0")
    publish(root / "models" / "alpha", "1.0.0")
    (root / "models" / "empty").mkdir()
    (root / "models" / "Upper").mkdir()
    (root / "models" / "bell\x07\x1b[2J").mkdir()
    (root / "models" / "default").mkdir()  # that name is the root's model: unreachable here
    (root / "models" / "link").symlink_to(root / "models" / "alpha")
    (root / "models" / ".tmp-publishing").mkdir()  # hidden: skipped, not refused

    listing = regwatch("models", "-r", str(root))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[:3] for line in lines[:4]] == [
        ["*", "default", "2"],
        ["alpha", "1", "version"],
        ["empty", "0", "versions"],
        ["zeta", "1", "version"],
    ]
    assert lines[0].endswith("latest 1.1.0") and lines[2].endswith("latest -")
    refused = lines[4:]
    assert [line.split()[1] for line in refused] == ["Upper", "bell\\x07\\x1b[2J", "default", "link"]
    assert "\x1b" not in listing.stdout and all(line.startswith("! ") for line in refused)
    assert "refused: a symlink" in refused[3] and "names the default model" in refused[2]

    as_json = json.loads(regwatch("models", "-r", str(root), "--json").stdout)
    assert as_json["models"] == [
        {"name": "default", "default": True, "versions": 2, "latest": "1.1.0"},
        {"name": "alpha", "default": False, "versions": 1, "latest": "1.0.0"},
        {"name": "empty", "default": False, "versions": 0, "latest": None},
        {"name": "zeta", "default": False, "versions": 1, "latest": "3.0.0"},
    ]
    assert [entry["name"] for entry in as_json["refused"]] == ["Upper", "bell\x07\x1b[2J", "default", "link"]
    assert not (root / "models" / "empty" / "versions").exists()  # listing created nothing


def test_the_default_model_name_comes_from_the_environment(root):
    env = {"REGWATCH_REGISTRY": str(root), "REGWATCH_DEFAULT_MODEL": "iris"}
    assert regwatch("demo", "--model", "iris", env=env).returncode == 0
    assert (root / "versions" / "1.0.0").is_dir() and not (root / "models").exists()
    assert regwatch("demo", "--model", "fraud", env=env).returncode == 0
    names = [m["name"] for m in json.loads(regwatch("models", "--json", env=env).stdout)["models"]]
    assert names == ["iris", "fraud"]
    bad = regwatch("ls", env={**env, "REGWATCH_DEFAULT_MODEL": "Not A Name"})
    assert bad.returncode == 1 and "invalid settings: default_model" in bad.stderr


def test_reading_a_registry_that_does_not_exist_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere"
    assert regwatch("ls", "-r", str(missing)).returncode == 0
    listing = json.loads(regwatch("models", "-r", str(missing), "--json").stdout)
    assert listing == {
        "models": [{"name": "default", "default": True, "versions": 0, "latest": None}],
        "refused": [],
    }
    assert not os.path.lexists(missing)
