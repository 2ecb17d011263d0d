"""The release commands' plans (shared by the CLI and the HTTP routes), carried out on a real
model folder: what each writes and records, what each refuses, and that a refusal or a
change that changes nothing leaves the folder untouched (not even the lock file)."""

import math
import re
from pathlib import Path

import pytest

from regwatch.registry import release_plans as plans
from regwatch.registry.release import (
    HISTORY_FILE,
    LOCK_FILE,
    RELEASE_FILE,
    Release,
    ReleaseError,
    read_history,
)
from regwatch.registry.release_plans import Command, carry_out


class Versions:
    """Checks over a fixed set of servable versions; following latest, `latest` serves.
    Remembers every version asked about."""

    def __init__(self, *servable: str, latest: str | None = None) -> None:
        self.servable_versions, self.latest, self.asked = set(servable), latest, []

    def servable(self, version: str) -> str:
        self.asked.append(version)
        if version not in self.servable_versions:
            raise ReleaseError(f"version {version!r} is not on the volume")
        return version

    def serving(self, state: Release) -> str | None:
        return state.stable if state.stable is not None else self.latest


CHECKS = Versions("1.0.0", "1.1.0", "2.0.0", latest="2.0.0")


def run(folder: Path, *commands: Command, checks: Versions = CHECKS) -> Release:
    state = Release()
    for command in commands:
        state, _ = carry_out(folder, command, checks, "tester")
    return state


def trail(folder: Path) -> list[tuple]:
    return [(e["actor"], e["action"], e["from"], e["to"]) for e in read_history(folder)]


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_promote_rollback_follow_latest_record_what_served(tmp_path):
    promoted = run(tmp_path, plans.promote("1.0.0"))
    assert (promoted.stable, promoted.previous) == ("1.0.0", "2.0.0")  # latest served until then
    back = run(tmp_path, plans.rollback())
    assert (back.stable, back.previous) == ("2.0.0", "1.0.0")
    assert run(tmp_path, plans.follow_latest()).stable is None
    assert trail(tmp_path) == [
        ("tester", "promote", "2.0.0", "1.0.0"),
        ("tester", "rollback", "1.0.0", "2.0.0"),
        ("tester", "follow-latest", "2.0.0", None),
    ]


def test_canary_shadow_and_aliases_record_what_they_named_before(tmp_path):
    state = run(
        tmp_path,
        plans.set_alias("champion", "1.0.0"),
        plans.set_alias("champion", "1.1.0"),
        plans.set_alias("runner-up", "@champion"),  # an alias through an alias: the version
        plans.canary("1.0.0", 5),
        plans.canary("@runner-up", 12.5),
        plans.shadow("1.0.0"),
        plans.shadow("@champion"),
        plans.promote("@champion"),  # ends the canary
        plans.remove_alias("runner-up"),
    )
    assert state == Release(stable="1.1.0", previous="2.0.0", shadow="1.1.0", aliases={"champion": "1.1.0"})
    entries = read_history(tmp_path)
    old, new = "1.0.0", "1.1.0"
    assert [e["from"] for e in entries] == [None, old, None, None, old, None, old, "2.0.0", new]
    assert [e["to"] for e in entries] == [old, new, new, old, new, old, new, new, None]
    details = [e.get("alias", e.get("percent")) for e in entries[:5]]
    assert details == ["champion", "champion", "runner-up", 5, 12.5]


def test_stop_canary_records_the_version_it_ends(tmp_path):
    run(tmp_path, plans.canary("1.1.0", 5))
    assert run(tmp_path, plans.stop_canary()).canary is None
    assert trail(tmp_path)[-1] == ("tester", "canary-stop", "1.1.0", None)


@pytest.mark.parametrize(
    "command",
    [plans.follow_latest(), plans.stop_canary(), plans.stop_shadow()],
    ids=["follow-latest", "stop-canary", "stop-shadow"],
)
def test_a_command_that_changes_nothing_writes_nothing(tmp_path, command):
    """Stopping what does not run, or following latest while following it: no change."""
    assert carry_out(tmp_path, command, CHECKS, "tester") == (Release(), False)
    assert files(tmp_path) == {}  # not even the lock file


def test_repeating_a_change_writes_it_once(tmp_path):
    run(tmp_path, plans.promote("1.0.0"))
    before = files(tmp_path)
    state, written = carry_out(tmp_path, plans.promote("1.0.0"), CHECKS, "tester")
    assert not written and state.stable == "1.0.0" and files(tmp_path) == before


def prepared(folder: Path) -> Release:
    """Some state (and history) that a refusal must leave as it is."""
    return run(folder, plans.promote("1.0.0"), plans.set_alias("champion", "1.1.0"))


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (plans.promote("9.9.9"), "version '9.9.9' is not on the volume"),
        (plans.canary("9.9.9", 5), "version '9.9.9' is not on the volume"),
        (plans.shadow("9.9.9"), "version '9.9.9' is not on the volume"),
        (plans.set_alias("next", "9.9.9"), "version '9.9.9' is not on the volume"),
        (plans.promote("@nope"), "no alias 'nope'"),
        (plans.canary("@nope", 5), "no alias 'nope'"),
        (plans.shadow("@nope"), "no alias 'nope'"),
        (plans.set_alias("next", "@nope"), "no alias 'nope'"),
        (plans.remove_alias("nope"), "no alias 'nope'"),
    ],
)
def test_a_version_or_alias_that_names_nothing_is_refused_and_nothing_changes(tmp_path, command, why):
    prepared(tmp_path)
    before = files(tmp_path)
    with pytest.raises(ReleaseError, match=re.escape(why)):
        carry_out(tmp_path, command, CHECKS, "tester")
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (plans.canary("9.9.9", 0), "canary percent must be in (0, 100], not 0"),
        (plans.canary("9.9.9", -1), "canary percent must be in"),
        (plans.canary("9.9.9", 100.5), "canary percent must be in"),
        (plans.canary("9.9.9", math.nan), "canary percent must be in"),
        (plans.set_alias("Bad Name", "9.9.9"), "alias 'Bad Name' must match"),
    ],
)
def test_what_the_command_alone_shows_is_refused_before_any_version_is_looked_up(tmp_path, command, why):
    checks = Versions("1.0.0", latest="1.0.0")
    with pytest.raises(ReleaseError, match=re.escape(why)):
        carry_out(tmp_path, command, checks, "tester")
    assert checks.asked == [] and files(tmp_path) == {}


def test_rollback_needs_a_servable_version_to_roll_back_to(tmp_path):
    with pytest.raises(ReleaseError, match="nothing to roll back to"):
        carry_out(tmp_path, plans.rollback(), CHECKS, "tester")
    assert files(tmp_path) == {}
    run(tmp_path, plans.promote("1.0.0"))  # from 2.0.0, which then cannot serve any more
    before = files(tmp_path)
    with pytest.raises(ReleaseError, match=re.escape("version '2.0.0' is not on the volume")):
        carry_out(tmp_path, plans.rollback(), Versions("1.0.0", latest="1.0.0"), "tester")
    assert files(tmp_path) == before


def test_a_release_file_that_cannot_be_used_is_refused_and_left_alone(tmp_path):
    (tmp_path / RELEASE_FILE).write_text('{"stable": "1.0.0",')
    before = files(tmp_path)
    with pytest.raises(ReleaseError, match=re.escape(f"{tmp_path / RELEASE_FILE} cannot be used")):
        carry_out(tmp_path, plans.follow_latest(), CHECKS, "tester")
    assert files(tmp_path) == before


class Meddling(Versions):
    """Another operator changes the state between the unlocked plan and the locked one."""

    def __init__(self, folder: Path) -> None:
        super().__init__("1.0.0", "1.1.0", "2.0.0", latest="2.0.0")
        self.folder = folder

    def servable(self, version: str) -> str:
        if not self.asked:
            carry_out(self.folder, plans.set_alias("champion", "1.1.0"), CHECKS, "other")
        return super().servable(version)


def test_a_change_is_planned_again_under_the_lock_so_no_operator_loses_theirs(tmp_path):
    state, written = carry_out(tmp_path, plans.promote("1.0.0"), Meddling(tmp_path), "tester")
    assert written and state == Release(stable="1.0.0", previous="2.0.0", aliases={"champion": "1.1.0"})
    assert trail(tmp_path) == [("other", "alias-set", None, "1.1.0"), ("tester", "promote", "2.0.0", "1.0.0")]
    assert {RELEASE_FILE, HISTORY_FILE, LOCK_FILE} == set(files(tmp_path))
