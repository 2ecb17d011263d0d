"""Release state on the volume: transitions, strict parsing, routing buckets, atomic writes."""

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwatch.registry.release import (
    ALIAS_RE,
    RELEASE_FILE,
    Canary,
    Release,
    ReleaseError,
    in_canary,
    read_history,
    read_release,
    routing_bucket,
    write_release,
)


def test_promote_pins_and_remembers_what_it_replaced():
    state = Release().promote("1.1.0", serving="1.2.0")
    assert (state.stable, state.previous) == ("1.1.0", "1.2.0")
    back = state.rollback(serving="1.1.0")
    assert (back.stable, back.previous) == ("1.2.0", "1.1.0")


def test_promote_ends_a_canary_and_follow_latest_unpins():
    state = Release().with_canary("2.0.0", 10).promote("1.0.0", serving="1.5.0")
    assert state.canary is None
    assert state.follow_latest().stable is None


def test_rollback_without_a_previous_stable_is_refused():
    with pytest.raises(ReleaseError, match="nothing to roll back"):
        Release().rollback(serving="1.0.0")


@pytest.mark.parametrize("percent", [0, -1, 100.5, 1000])
def test_bad_canary_percent_is_refused(percent):
    with pytest.raises(ReleaseError, match="percent"):
        Release().with_canary("2.0.0", percent)


def test_aliases_are_named_pointers():
    state = Release().with_alias("champion", "1.0.0").with_alias("challenger", "2.0.0")
    assert state.without_alias("champion").aliases == {"challenger": "2.0.0"}
    with pytest.raises(ReleaseError):
        state.with_alias("Bad Name", "1.0.0")
    with pytest.raises(ReleaseError, match="no alias"):
        state.without_alias("nope")


def test_state_round_trips_through_json():
    state = Release("1.0.0", "0.9.0", Canary("2.0.0", 12.5), "3.0.0", {"champion": "1.0.0"})
    assert Release.from_json(json.loads(json.dumps(state.to_json()))) == state
    assert state.versions() == {"1.0.0", "2.0.0", "3.0.0"}


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"stable": 1},
        {"canary": {"version": "2.0.0"}},
        {"canary": {"version": "2.0.0", "percent": 150}},
        {"canary": {"version": "2.0.0", "percent": True}},
        {"aliases": {"Bad Name": "1.0.0"}},
        {"surprise": 1},
    ],
)
def test_a_bad_hand_edit_is_refused_whole(tmp_path, bad):
    (tmp_path / RELEASE_FILE).write_text(json.dumps(bad))
    with pytest.raises(ReleaseError):
        read_release(tmp_path)


def test_a_release_file_that_is_a_symlink_or_a_fifo_is_refused(tmp_path):
    import os

    (tmp_path / "elsewhere.json").write_text("{}")
    (tmp_path / RELEASE_FILE).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ReleaseError, match="symlink"):
        read_release(tmp_path)
    (tmp_path / RELEASE_FILE).unlink()
    os.mkfifo(tmp_path / RELEASE_FILE)
    with pytest.raises(ReleaseError, match="regular file"):
        read_release(tmp_path)


def test_no_file_means_follow_latest(tmp_path):
    assert read_release(tmp_path) == Release()


def test_write_replaces_atomically_and_appends_history(tmp_path):
    state = Release().promote("1.0.0", serving=None)
    write_release(tmp_path, state, actor="alice", action="promote", before=None, after="1.0.0")
    write_release(
        tmp_path, state.follow_latest(), actor="bob", action="follow-latest", before="1.0.0", after=None
    )
    assert read_release(tmp_path) == Release(previous=None)
    history = read_history(tmp_path)
    assert [(h["actor"], h["action"], h["from"], h["to"]) for h in history] == [
        ("alice", "promote", None, "1.0.0"),
        ("bob", "follow-latest", "1.0.0", None),
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_canary_split_holds_over_2000_keys():
    for percent in (5, 10, 25, 50, 90):
        share = sum(in_canary(routing_bucket(f"user-{i}"), percent) for i in range(2000)) / 20
        assert abs(share - percent) <= 3, (percent, share)


@given(st.text(max_size=64), st.floats(0.01, 100), st.floats(0.01, 100))
def test_raising_the_share_only_moves_keys_into_the_canary(key, a, b):
    low, high = sorted((a, b))
    bucket = routing_bucket(key)
    assert bucket == routing_bucket(key)
    assert not (in_canary(bucket, low) and not in_canary(bucket, high))


def test_a_link_planted_at_the_temp_name_is_never_written_through(tmp_path):
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (tmp_path / f".{RELEASE_FILE}.{os.getpid()}.tmp").symlink_to(victim)
    write_release(
        tmp_path, Release().with_shadow("2.0.0"), actor="a", action="shadow", before=None, after="2.0.0"
    )
    assert victim.read_text() == "untouched"
    assert read_release(tmp_path).shadow == "2.0.0"


def test_promoting_what_already_serves_keeps_the_rollback_target():
    state = Release().promote("1.1.0", serving="1.2.0")
    again = state.with_canary("2.0.0", 5).promote("1.1.0", serving="1.1.0")
    assert (again.stable, again.previous, again.canary) == ("1.1.0", "1.2.0", None)
    assert Release().promote("1.2.0", serving="1.2.0").previous is None


def test_an_alias_reference_resolves_through_the_aliases():
    state = Release().with_alias("champion", "1.0.0")
    assert state.resolve("@champion") == "1.0.0"
    assert state.resolve("2.0.0") == "2.0.0"
    with pytest.raises(ReleaseError, match="no alias 'nope'"):
        state.resolve("@nope")


def test_describe_says_what_serves_and_escapes_what_a_hand_edit_put_there():
    following = Release().describe(latest="1.2.0").splitlines()
    assert following[0] == "stable    follows latest (1.2.0)"
    assert "canary    -" in following
    hostile = Release("1.0.0\x1b[2J", None, Canary("2.0.0", 12.5), None, {"b": "1.0.0", "a": "2.0.0"})
    text = hostile.describe(latest=None)
    assert "\x1b" not in text and "1.0.0\\x1b[2J" in text
    assert "canary    2.0.0 at 12.5%" in text
    assert "aliases   @a -> 2.0.0, @b -> 1.0.0" in text


def test_history_details_sit_beside_the_fixed_fields_never_in_place_of_one(tmp_path):
    write_release(
        tmp_path,
        Release().with_canary("2.0.0", 10),
        actor="alice",
        action="canary",
        before=None,
        after="2.0.0",
        details={"percent": 10.0, "actor": "mallory"},
    )
    (entry,) = read_history(tmp_path)
    assert (entry["actor"], entry["percent"], entry["to"]) == ("alice", 10.0, "2.0.0")


def test_a_file_that_cannot_be_used_is_named_with_its_path(tmp_path):
    (tmp_path / RELEASE_FILE).write_text('{"stable": "1.0.0",')
    with pytest.raises(ReleaseError, match="^" + re.escape(f"{tmp_path / RELEASE_FILE} cannot be used: ")):
        read_release(tmp_path)
    (tmp_path / RELEASE_FILE).write_text('{"canary": {"version": "2.0.0", "percent": 0}}')
    with pytest.raises(ReleaseError, match="cannot be used: canary percent must be in"):
        read_release(tmp_path)


versions = st.text(min_size=1, max_size=12)
states = st.builds(
    Release,
    stable=st.none() | versions,
    previous=st.none() | versions,
    canary=st.none() | st.builds(Canary, versions, st.floats(0.01, 100)),
    shadow=st.none() | versions,
    aliases=st.dictionaries(st.from_regex(ALIAS_RE, fullmatch=True), versions, max_size=3),
)


@given(states, versions, st.none() | versions)
def test_rollback_after_a_promote_returns_to_what_served(state, version, serving):
    promoted = state.promote(version, serving)
    assert promoted.stable == version and promoted.canary is None
    expected = serving if version != serving else state.previous
    if expected is None:
        with pytest.raises(ReleaseError):
            promoted.rollback(version)
    else:
        assert promoted.rollback(version).stable == expected


@given(states, st.none() | versions)
def test_whatever_a_hand_edit_holds_is_described_in_printable_lines(state, latest):
    lines = state.describe(latest).splitlines()
    assert len(lines) == 5 and all(line.isprintable() for line in lines)


@given(states)
def test_every_alias_resolves_to_its_version(state):
    for name, version in state.aliases.items():
        assert state.resolve(f"@{name}") == version


def test_history_lines_that_do_not_parse_or_nest_too_deep_are_skipped(tmp_path):
    write_release(tmp_path, Release(), actor="alice", action="follow-latest", before=None, after=None)
    with (tmp_path / "release-history.jsonl").open("a") as history:
        history.write("[" * 100_000 + "\n" + "not json\n" + "[1, 2]\n")
    write_release(tmp_path, Release(), actor="bob", action="follow-latest", before=None, after=None)
    assert [entry["actor"] for entry in read_history(tmp_path)] == ["alice", "bob"]
