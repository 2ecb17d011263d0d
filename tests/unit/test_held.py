"""What one model keeps loaded, and why (`Held`), against a real registry on a real folder:
the index holds real inspections, and a version's files change by rewriting them on disk.

The models are the registry's own (`get_model`), wrapped as a load would wrap them; `Held`
never looks inside a model, only at the files it was loaded from."""

import json
import shutil

import pytest
from support.models import iris_model

from regwatch.registry import ModelRegistry
from regwatch.serving.held import Held
from regwatch.serving.loading import LoadedModel


@pytest.fixture(scope="module")
def model():
    return iris_model()


@pytest.fixture
def registry(root, model) -> ModelRegistry:
    registry = ModelRegistry(root)
    for version in ("1.0.0", "2.0.0", "3.0.0", "4.0.0"):
        registry.save_model(version, model)
        registry.refresh(version)
    return registry


def held(registry: ModelRegistry, *, pinned_slots: int = 2, keep_previous: bool = True) -> Held:
    return Held(registry.index, pinned_slots=pinned_slots, keep_previous=keep_previous)


def load(registry: ModelRegistry, version: str) -> LoadedModel:
    """A model of the version's current files, as a finished load hands it over."""
    state = registry.resolve(version)
    return LoadedModel(state.name, registry.get_model(state.name), state.fingerprint, n_features=4)


def touch(registry: ModelRegistry, version: str) -> None:
    """Rewrite a version's metadata (same content, new file): its folder's files changed."""
    path = registry.versions_dir / version / "metadata.json"
    metadata = json.loads(path.read_text())
    path.unlink()
    path.write_text(json.dumps({**metadata, "description": "touched"}))
    registry.refresh(version)


def remove(registry: ModelRegistry, version: str) -> None:
    shutil.rmtree(registry.versions_dir / version)
    registry.refresh(version)


def test_ready_is_a_model_of_exactly_the_folders_current_files(registry):
    models = held(registry)
    one = load(registry, "1.0.0")
    assert models.ready(registry.resolve("1.0.0")) is None
    assert models.ready(registry.resolve("1.0.0"), fresh=one) is one  # a load just finished
    models.swap(one)
    assert models.ready(registry.resolve("1.0.0")) is one
    assert models.ready(registry.resolve("2.0.0"), fresh=one) is None  # another version
    touch(registry, "1.0.0")
    assert models.ready(registry.resolve("1.0.0")) is None  # its files changed
    assert models.ready(registry.resolve("1.0.0"), fresh=one) is None
    assert models.serving is one  # the old contents keep serving until the new ones load


def test_the_replaced_model_becomes_the_previous_while_its_files_are_current(registry):
    models = held(registry)
    one, two, three = (load(registry, v) for v in ("1.0.0", "2.0.0", "3.0.0"))
    assert models.swap(one) is None and models.previous is None
    assert models.swap(two) is one and models.previous is one
    assert models.ready(registry.resolve("1.0.0")) is one  # an instant rollback
    models.swap(one)
    assert (models.serving, models.previous) == (one, two)
    touch(registry, "1.0.0")
    assert models.swap(three) is one
    assert models.previous is two  # 1.0.0's files changed: it is no rollback any more
    touch(registry, "3.0.0")
    models.swap(two)  # back to the previous, from a model whose files changed
    assert (models.serving, models.previous) == (two, None)


def test_new_files_of_the_serving_version_leave_no_previous(registry):
    models = held(registry)
    old = load(registry, "1.0.0")
    models.swap(old)
    models.swap(load(registry, "1.0.0"))  # a second load of the same files
    assert models.previous is None
    touch(registry, "1.0.0")
    new = load(registry, "1.0.0")
    models.swap(new)
    assert (models.serving, models.previous) == (new, None)
    assert models.versions() == {"1.0.0"}


def test_without_keep_previous_the_replaced_model_is_let_go(registry):
    models = held(registry, keep_previous=False)
    models.swap(load(registry, "1.0.0"))
    models.swap(load(registry, "2.0.0"))
    assert models.previous is None and models.versions() == {"2.0.0"}


def test_pinned_models_are_a_bounded_lru_that_never_evicts_serving_or_previous(registry):
    models = held(registry, pinned_slots=2)
    one, two, three, four = (load(registry, v) for v in ("1.0.0", "2.0.0", "3.0.0", "4.0.0"))
    models.swap(three)
    models.swap(four)
    models.pin(one)
    models.pin(two)
    models.used("1.0.0")  # 2.0.0 is now the least recently used
    models.pin(three)  # a pinned load of the previous version's files (a second copy)
    assert models.versions() == {"1.0.0", "3.0.0", "4.0.0"}
    assert models.ready(registry.resolve("2.0.0")) is None
    assert models.serving is four and models.previous is three
    models.pin(two)
    assert models.ready(registry.resolve("1.0.0")) is None  # evicted: least recently used
    assert models.ready(registry.resolve("2.0.0")) is two


def test_a_pinned_model_that_starts_serving_leaves_the_lru(registry):
    models = held(registry, pinned_slots=2, keep_previous=False)
    one, two, three = (load(registry, v) for v in ("1.0.0", "2.0.0", "3.0.0"))
    models.pin(one)
    models.swap(one)
    models.pin(two)
    models.swap(three)
    assert models.versions() == {"2.0.0", "3.0.0"}  # 1.0.0 is let go with its serving
    assert models.ready(registry.resolve("2.0.0")) is two


def test_what_the_release_state_keeps_is_replaced_as_a_whole_and_stays_when_served(registry):
    models = held(registry, keep_previous=False)
    one, two, three = (load(registry, v) for v in ("1.0.0", "2.0.0", "3.0.0"))
    models.keep([one, two])
    models.swap(two)
    models.swap(three)
    assert models.ready(registry.resolve("2.0.0")) is two  # kept by the release, not as previous
    models.keep([one])
    assert models.versions() == {"1.0.0", "3.0.0"}


def test_a_named_slot_counts_as_loaded_and_its_model_leaves_it_when_it_serves(registry):
    models = held(registry, keep_previous=False)
    fleet = models.slot("fleet")
    assert models.slot("fleet") is fleet
    one, two = load(registry, "1.0.0"), load(registry, "2.0.0")
    fleet["2.0.0"] = two
    assert models.ready(registry.resolve("2.0.0")) is two and models.versions() == {"2.0.0"}
    models.swap(one)
    models.swap(two)
    assert fleet == {} and models.serving is two
    fleet["1.0.0"] = load(registry, "1.0.0")  # another copy of the same files: not taken out
    models.swap(one)
    assert list(fleet) == ["1.0.0"] and models.versions() == {"1.0.0"}


def test_holding_finds_a_version_in_any_slot_current_files_first(registry):
    models = held(registry)
    fleet = models.slot("fleet")
    old = load(registry, "1.0.0")
    models.swap(old)
    models.swap(load(registry, "2.0.0"))
    assert models.holding("1.0.0") is old  # the previous
    assert models.holding("3.0.0") is None
    touch(registry, "2.0.0")
    stale = models.serving
    assert models.holding("2.0.0") is stale  # older files, but it can still answer
    fleet["2.0.0"] = stale  # the named slots are looked at first ...
    fresh = load(registry, "2.0.0")
    models.swap(fresh)
    assert models.holding("2.0.0") is fresh  # ... but the current files win
    del fleet["2.0.0"]
    assert models.holding("1.0.0") is old and models.holding("2.0.0") is fresh


def test_forget_stale_lets_go_of_models_and_failures_whose_files_changed_or_went(registry):
    models = held(registry, pinned_slots=3)
    fleet = models.slot("fleet")
    models.swap(load(registry, "1.0.0"))
    models.swap(load(registry, "2.0.0"))
    models.pin(load(registry, "3.0.0"))
    fleet["4.0.0"] = load(registry, "4.0.0")
    models.failed(registry.resolve("3.0.0"), "a reason")
    models.forget_stale()
    assert models.versions() == {"1.0.0", "2.0.0", "3.0.0", "4.0.0"}  # all current
    assert models.failures == {"3.0.0": "a reason"}

    for version in ("1.0.0", "3.0.0", "4.0.0"):
        touch(registry, version)
    remove(registry, "2.0.0")
    models.forget_stale()
    assert models.versions() == {"2.0.0"}  # what serves keeps serving, its folder gone
    assert models.previous is None and fleet == {} and models.failures == {}


def test_a_failure_is_remembered_for_the_files_that_failed_only(registry):
    models = held(registry)
    before = registry.resolve("1.0.0")
    models.failed(before, "cannot unpickle")
    assert models.failure(before) == "cannot unpickle"
    assert models.failure(registry.resolve("2.0.0")) is None
    touch(registry, "1.0.0")
    assert models.failure(registry.resolve("1.0.0")) is None  # new files: tried again
    assert models.failures == {"1.0.0": "cannot unpickle"}  # until forget_stale runs
    models.forget_stale()
    assert models.failures == {}
