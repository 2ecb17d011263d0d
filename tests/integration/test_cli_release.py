"""Release control from the command line, through the real console script against real
registries: every command, `--model`, `@alias`, the audit trail, and refusals that leave the
volume byte-identical."""

import getpass
import json
import os
import pwd
import shutil
from pathlib import Path

import pytest
from support.cli import regwatch, snapshot
from support.models import build_folder, publish

from regwatch.cli.release import actor
from regwatch.registry.release import HISTORY_FILE, LOCK_FILE, RELEASE_FILE, Release, write_release


@pytest.fixture
def registry(root: Path) -> Path:
    """The default model with three servable versions, following latest (2.0.0)."""
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        publish(root, version)
    return root


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    done = regwatch(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def release(root: Path, *model: str) -> dict:
    return json.loads(ok("release", "-r", str(root), *model, "--json"))


def history(root: Path, *model: str) -> list[tuple]:
    entries = json.loads(ok("history", "-r", str(root), *model, "--json"))
    return [(e["actor"], e["action"], e["from"], e["to"]) for e in entries]


def test_promote_rollback_follow_latest_and_the_audit_trail(registry):
    r = ("-r", str(registry))
    promoted = ok("promote", "1.0", *r)  # any spelling; the folder's name is recorded
    assert "stable    1.0.0" in promoted and "previous  2.0.0" in promoted
    state = json.loads((registry / RELEASE_FILE).read_text())
    assert (state["mode"], state["stable"], state["previous"]) == ("pinned", "1.0.0", "2.0.0")
    assert "stable    2.0.0" in ok("rollback", *r)
    assert "follows latest (2.0.0)" in ok("follow-latest", *r)
    assert release(registry) == {
        "model": "default",
        "latest": "2.0.0",
        "mode": "follow-latest",
        "stable": None,
        "previous": "1.0.0",
        "canary": None,
        "shadow": None,
        "aliases": {},
    }
    user = getpass.getuser()
    # While following latest, what served (and what promote records as "from") was latest.
    assert history(registry) == [
        (user, "promote", "2.0.0", "1.0.0"),
        (user, "rollback", "1.0.0", "2.0.0"),
        (user, "follow-latest", "2.0.0", None),
    ]
    lines = ok("history", *r).splitlines()
    assert len(lines) == 3 and lines[0].split()[1:] == [user, "promote", "2.0.0", "->", "1.0.0"]


def test_canary_shadow_and_aliases_wherever_a_version_goes(registry):
    r = ("-r", str(registry))
    ok("alias", "set", "champion", "1.1.0", *r)
    ok("alias", "set", "runner-up", "@champion", *r)  # an alias through an alias: the version
    assert json.loads(ok("show", "@runner-up", *r))["version"] == "1.1.0"
    assert "canary    1.1.0 at 12.5%" in ok("canary", "@champion", "--percent", "12.5", *r)
    assert release(registry)["canary"] == {"version": "1.1.0", "percent": 12.5}
    ok("shadow", "@runner-up", *r)
    shown = ok("release", *r)
    assert "shadow    1.1.0" in shown and "aliases   @champion -> 1.1.0, @runner-up -> 1.1.0" in shown
    ok("promote", "@champion", *r)
    state = release(registry)
    assert (state["stable"], state["canary"], state["shadow"]) == ("1.1.0", None, "1.1.0")  # ends the canary
    ok("shadow", "--stop", *r)
    ok("alias", "rm", "runner-up", *r)
    assert release(registry)["aliases"] == {"champion": "1.1.0"} and release(registry)["shadow"] is None
    entries = json.loads(ok("history", *r, "--json"))
    assert [(e["action"], e["from"], e["to"]) for e in entries] == [
        ("alias-set", None, "1.1.0"),
        ("alias-set", None, "1.1.0"),
        ("canary", None, "1.1.0"),
        ("shadow", None, "1.1.0"),
        ("promote", "2.0.0", "1.1.0"),
        ("shadow-stop", "1.1.0", None),
        ("alias-rm", "1.1.0", None),
    ]
    assert entries[0]["alias"] == "champion" and entries[2]["percent"] == 12.5
    assert "percent=12.5" in ok("history", *r).splitlines()[2]


def test_a_command_that_changes_nothing_writes_nothing(registry):
    before = snapshot(registry)
    for command in (["follow-latest"], ["canary", "--stop"], ["shadow", "--stop"]):
        same = regwatch(*command, "-r", str(registry))
        assert same.returncode == 0 and same.stdout.startswith("no change:")
        assert "follows latest (2.0.0)" in same.stdout
    assert snapshot(registry) == before  # not even the lock file


def test_release_commands_take_a_model(registry):
    publish(registry / "models" / "fraud", "1.0.0")
    publish(registry / "models" / "fraud", "1.5.0")
    ok("promote", "1.0.0", "-r", str(registry), "--model", "fraud")
    ok("alias", "set", "champion", "1.5.0", "-r", str(registry), "-m", "fraud")
    fraud = release(registry, "-m", "fraud")
    assert (fraud["model"], fraud["stable"], fraud["latest"], fraud["aliases"]) == (
        "fraud",
        "1.0.0",
        "1.5.0",
        {"champion": "1.5.0"},
    )
    assert [action for _, action, _, _ in history(registry, "-m", "fraud")] == ["promote", "alias-set"]
    assert (registry / "models" / "fraud" / RELEASE_FILE).is_file()
    assert not (registry / RELEASE_FILE).exists() and history(registry) == []
    # A version of another model is not this model's.
    wrong = regwatch("promote", "2.0.0", "-r", str(registry), "-m", "fraud")
    assert wrong.returncode == 1 and "model fraud: version '2.0.0' is not on the volume" in wrong.stderr
    before = snapshot(registry)
    unknown = regwatch("promote", "1.0.0", "-r", str(registry), "-m", "churn")
    assert unknown.returncode == 1 and "no model 'churn'" in unknown.stderr
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (["promote", "9.9.9"], {}, "version '9.9.9' is not on the volume"),
        (["promote", "not-a-version"], {}, "'not-a-version' is not a PEP 440 version"),
        (["promote", "3.0.0"], {}, "version '3.0.0' is not servable: "),  # no metadata.json
        (["shadow", "3.0.0"], {}, "version '3.0.0' is not servable: "),
        (
            ["promote", "1.1.0"],
            {"REGWATCH_ALLOW_PICKLE": "false"},
            "is not servable: model.joblib is a pickle",
        ),
        (["canary", "1.1.0", "--percent", "0"], {}, "canary percent must be in (0, 100]"),
        (["canary", "1.1.0", "--percent", "100.5"], {}, "canary percent must be in (0, 100]"),
        (["canary", "1.1.0", "--percent", "nan"], {}, "canary percent must be in (0, 100]"),
        (["canary", "9.9.9", "--percent", "5"], {}, "version '9.9.9' is not on the volume"),
        (["promote", "@nope"], {}, "no alias 'nope'"),
        (["alias", "rm", "nope"], {}, "no alias 'nope'"),
        (["alias", "set", "Bad Name", "1.0.0"], {}, "alias 'Bad Name' must match"),
        (["alias", "set", "stale", "@nope"], {}, "no alias 'nope'"),
    ],
)
def test_a_refused_command_changes_nothing(registry, tmp_path, command, env, message):
    state = Release().promote("1.0.0", serving="2.0.0")  # some state (and history) to keep intact
    write_release(registry, state, actor="setup", action="promote", before="2.0.0", after="1.0.0")
    incomplete = build_folder(tmp_path / "3.0.0")
    (incomplete / "metadata.json").unlink()
    incomplete.rename(registry / "versions" / "3.0.0")
    before = snapshot(registry)
    refused = regwatch(*command, "-r", str(registry), env=env)
    assert refused.returncode == 1
    assert message in refused.stderr and refused.stdout == ""
    assert snapshot(registry) == before


def test_rollback_needs_something_servable_to_roll_back_to(registry):
    before = snapshot(registry)
    nothing = regwatch("rollback", "-r", str(registry))
    assert nothing.returncode == 1 and "nothing to roll back to" in nothing.stderr
    assert snapshot(registry) == before and not (registry / LOCK_FILE).exists()
    ok("promote", "1.0.0", "-r", str(registry))  # from 2.0.0, which is then removed
    shutil.rmtree(registry / "versions" / "2.0.0")
    before = snapshot(registry)
    gone = regwatch("rollback", "-r", str(registry))
    assert gone.returncode == 1 and "version '2.0.0' is not on the volume" in gone.stderr
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("plant", "why"),
    [
        (lambda path: path.write_text('{"stable": "1.0.0",'), "cannot be used: "),
        (lambda path: path.write_text('{"canary": {"version": "1.1.0", "percent": 150}}'), "canary percent"),
        (lambda path: path.write_text('{"stable": "1.0.0", "stabel": "1.1.0"}'), "unknown keys: stabel"),
        (lambda path: path.symlink_to(path.with_name("versions")), "is a symlink"),
    ],
)
def test_a_broken_release_file_is_reported_where_and_why_and_left_alone(registry, plant, why):
    plant(registry / RELEASE_FILE)
    before = snapshot(registry)
    for command in (["promote", "1.0.0"], ["follow-latest"], ["alias", "set", "x", "1.0.0"], ["release"]):
        refused = regwatch(*command, "-r", str(registry))
        assert refused.returncode == 1
        assert f"{registry / RELEASE_FILE} cannot be used: " in refused.stderr and why in refused.stderr
    assert snapshot(registry) == before


def test_history_prints_what_a_hand_edit_put_there_escaped(registry):
    lines = [
        json.dumps({"at": "t1", "actor": "eve\x1b[2J", "action": "promote", "from": None, "to": "1.0.0"}),
        "not json",
        json.dumps(
            {"at": "t2", "actor": "bob", "action": "canary", "from": None, "to": "2.0.0", "percent": 5}
        ),
    ]
    (registry / HISTORY_FILE).write_text("\n".join(lines) + "\n")
    shown = ok("history", "-r", str(registry))
    assert "\x1b" not in shown and "eve\\x1b[2J" in shown
    assert shown.splitlines()[1].split() == ["t2", "bob", "canary", "-", "->", "2.0.0", "percent=5"]
    assert [e["actor"] for e in json.loads(ok("history", "-r", str(registry), "--json"))] == [
        "eve\x1b[2J",
        "bob",
    ]


def test_the_actor_of_a_uid_without_a_name_is_the_uid(monkeypatch):
    """As in many containers: no LOGNAME/USER, and no passwd entry for the uid."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert actor() == getpass.getuser()
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: {}[uid])  # KeyError, as for an unknown uid
    assert actor() == str(os.getuid())


def test_canary_and_shadow_take_a_version_or_stop_not_both(registry):
    before = snapshot(registry)
    for command in (
        ["canary", "1.0.0"],
        ["canary", "--stop", "--percent", "5"],
        ["shadow", "1.0.0", "--stop"],
    ):
        misused = regwatch(*command, "-r", str(registry))
        assert misused.returncode == 2 and "or --stop alone" in misused.stderr
    assert snapshot(registry) == before
