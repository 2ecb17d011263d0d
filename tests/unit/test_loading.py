"""Loading one version: a real probe child per load, real files, real hostile pickles."""

import io
import json
import os
import threading
from types import SimpleNamespace

import anyio
import joblib
import numpy as np
import pytest
from support.hostile_models import EXIT, HANG, SEGFAULT, ended, memory_bomb, pickle_running
from support.models import IRIS_ROW, iris_model, pickled_by_other_sklearn

import regwatch.serving.loading
from regwatch.registry import ModelRegistry
from regwatch.serving import LoadCancelled, LoadError, LoadPolicy, ModelLoad

POLICY = LoadPolicy(timeout=60, memory_limit=256 * 1024 * 1024)


def model_bytes(model=None) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model if model is not None else iris_model(), buffer)
    return buffer.getvalue()


def load(root, version: str, policy: LoadPolicy = POLICY) -> ModelLoad:
    """The load the live model would start for `version` of the registry at `root`."""
    registry = ModelRegistry(root)
    state = registry.resolve(version)
    return ModelLoad(state, policy)


def publish_raw(root, version: str, data: bytes, metadata: dict | None = None) -> None:
    folder = root / "versions" / version
    folder.mkdir()
    (folder / "model.joblib").write_bytes(data)
    (folder / "metadata.json").write_text(json.dumps(metadata or {}))


def test_a_good_model_is_loaded_validated_and_warmed_up(root):
    publish_raw(root, "1.0.0", model_bytes(), {"n_features": 4})
    loaded = load(root, "1.0.0").run()
    assert loaded.n_features == 4
    assert loaded.warnings == ()
    assert loaded.warmup_seconds > 0 and loaded.probe_seconds > 0
    assert loaded.model.predict(np.asarray([IRIS_ROW])).tolist() == [0]


@pytest.mark.parametrize(
    ("data", "policy", "reason"),
    [
        (pickle_running(SEGFAULT), POLICY, "crashed (signal 11)"),
        (
            pickle_running(HANG),
            LoadPolicy(timeout=1, memory_limit=POLICY.memory_limit),
            "timed out after 1 s",
        ),
        (memory_bomb(), POLICY, "exceeded the memory limit of 256.0 MiB"),
        (pickle_running(EXIT), POLICY, "the probe exited with status 3 without a report"),
        (b"\x80\x04garbage", POLICY, "cannot unpickle model.joblib"),
    ],
    ids=["segfault", "hang", "memory-bomb", "exit", "garbage"],
)
def test_a_file_that_breaks_its_loader_fails_in_the_probe_and_this_process_lives(root, data, policy, reason):
    publish_raw(root, "1.0.0", data)
    with pytest.raises(LoadError) as failure:
        load(root, "1.0.0", policy).run()
    assert reason in str(failure.value)


def test_the_memory_limit_is_what_stops_a_bomb(root):
    publish_raw(root, "1.0.0", memory_bomb())
    roomy = LoadPolicy(timeout=60, memory_limit=2 * 1024**3)
    with pytest.raises(LoadError, match="ndarray object has no predict"):  # it inflated fine
        load(root, "1.0.0", roomy).run()


async def test_a_hanging_probe_is_killed_on_timeout_and_on_cancel(root, beacon):
    publish_raw(root, "1.0.0", pickle_running(beacon.step(), HANG))
    timed = load(root, "1.0.0", LoadPolicy(timeout=1, memory_limit=POLICY.memory_limit))
    with pytest.raises(LoadError, match="timed out after 1 s"):
        await anyio.to_thread.run_sync(timed.run)
    await ended((await beacon.next()).pid)

    job = load(root, "1.0.0")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            job.run()
        except LoadError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    child = await beacon.next()  # the child is inside the unpickle now
    job.cancel()
    await anyio.to_thread.run_sync(thread.join)
    assert isinstance(outcome[0], LoadCancelled)
    await ended(child.pid)


def test_a_scikit_learn_version_mismatch_is_refused_or_reported(root):
    publish_raw(root, "1.0.0", b"")
    pickled_by_other_sklearn(root / "versions" / "1.0.0" / "model.joblib")
    with pytest.raises(LoadError, match=r"pickled with scikit-learn 1\.0\.2"):
        load(root, "1.0.0").run()
    allowing = LoadPolicy(timeout=60, memory_limit=POLICY.memory_limit, allow_version_mismatch=True)
    loaded = load(root, "1.0.0", allowing).run()
    assert "pickled with scikit-learn 1.0.2" in loaded.warnings[0]


def broken_predict():
    """A real fitted model whose predict raises: its coefficients lost a column."""
    model = iris_model()
    model.coef_ = np.zeros((3, 5))
    return model


@pytest.mark.parametrize(
    ("model", "metadata", "reason"),
    [
        (None, {"examples": {"instances": [IRIS_ROW], "predictions": [2]}}, "warm-up: example 0 predicted 0"),
        (broken_predict(), {}, "warm-up: predict raised ValueError"),
        (None, {"examples": {"instances": [[1.0, 2.0]]}}, "warm-up: metadata examples have 2 features"),
        (None, {"examples": {"instances": "x"}}, 'warm-up: metadata "examples" must be'),
        (
            None,
            {"examples": {"instances": [IRIS_ROW], "predictions": [0, 1]}},
            "warm-up: metadata examples predictions must be",
        ),
    ],
    ids=["wrong-prediction", "predict-raises", "wrong-width", "malformed", "count-mismatch"],
)
def test_a_model_that_fails_its_warm_up_is_refused(root, model, metadata, reason):
    publish_raw(root, "1.0.0", model_bytes(model), metadata)
    with pytest.raises(LoadError) as failure:
        load(root, "1.0.0").run()
    assert str(failure.value).startswith(reason)


def test_examples_that_match_warm_the_model_up(root):
    examples = {"instances": [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]], "predictions": [0, 2]}
    publish_raw(root, "1.0.0", model_bytes(), {"examples": examples})
    assert load(root, "1.0.0").run().warnings == ()


def test_without_examples_or_a_feature_count_the_missing_warm_up_is_reported(root):
    publish_raw(root, "1.0.0", model_bytes(SimpleNamespace(predict=len)))  # no n_features_in_
    loaded = load(root, "1.0.0").run()
    assert loaded.warmup_seconds == 0.0
    assert loaded.warnings == ("no warm-up: the metadata gives neither examples nor n_features",)


def test_the_bytes_loaded_are_the_bytes_hashed_even_if_the_file_changes_after(root, beacon, monkeypatch):
    ModelRegistry(root).save_model("1.0.0", iris_model(c=1.0))
    model_file = root / "versions" / "1.0.0" / "model.joblib"
    real_read = regwatch.serving.loading.read_verified

    def read_then_edit_in_place(*args):
        data = real_read(*args)
        with model_file.open("r+b") as fh:  # same inode, as an edit through a hard link would be
            fh.write(pickle_running(beacon.step(), result=iris_model(c=0.01)))
            fh.truncate()
        return data

    monkeypatch.setattr(regwatch.serving.loading, "read_verified", read_then_edit_in_place)
    loaded = load(root, "1.0.0").run()
    assert np.array_equal(loaded.model.coef_, iris_model(c=1.0).coef_)
    assert beacon.received() == []  # the edited contents were never unpickled, anywhere


def test_contents_edited_through_a_hard_link_before_the_load_are_refused_unread(root, beacon, tmp_path):
    ModelRegistry(root).save_model("1.0.0", iris_model())
    job = load(root, "1.0.0")
    outside = tmp_path / "elsewhere.joblib"
    os.link(root / "versions" / "1.0.0" / "model.joblib", outside)
    outside.write_bytes(pickle_running(beacon.step(), result=iris_model()))
    with pytest.raises(LoadError, match="changed since it was inspected"):
        job.run()
    assert beacon.received() == []
