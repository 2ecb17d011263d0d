"""The in-memory index: per-folder updates, conflicts, once-only rejections, latest."""

from hypothesis import given, settings
from hypothesis import strategies as st

from regwatch.registry import Status, VersionIndex, VersionState, parse_version


def complete(name: str, fp: int = 1) -> VersionState:
    return VersionState(name, Status.COMPLETE, parse_version(name), fingerprint=(fp,))


def missing(name: str) -> VersionState:
    return VersionState(name, Status.MISSING)


def kinds(changes):
    return [(c.kind, c.name) for c in changes]


def test_add_update_remove():
    index = VersionIndex()
    assert kinds(index.apply(complete("1.0.0"))) == [("version_added", "1.0.0")]
    assert index.apply(complete("1.0.0")) == []
    assert kinds(index.apply(complete("1.0.0", fp=2))) == [("version_updated", "1.0.0")]
    assert kinds(index.apply(missing("1.0.0"))) == [("version_removed", "1.0.0")]
    assert index.available() == [] and index.latest() is None


def test_conflicting_spellings_make_both_unavailable_until_one_goes():
    index = VersionIndex()
    index.apply(complete("1.0.0"))
    changes = kinds(index.apply(complete("1.0")))
    assert ("version_removed", "1.0.0") in changes
    assert ("version_rejected", "1.0") in changes and ("version_rejected", "1.0.0") in changes
    assert index.available() == []
    assert kinds(index.apply(missing("1.0"))) == [("version_added", "1.0.0")]


def test_conflicts_are_listed_as_rejected_and_reported_once():
    index = VersionIndex()
    index.apply(complete("1.0.0"))
    index.apply(complete("1.0"))
    assert {state.name for state in index.rejected()} == {"1.0", "1.0.0"}
    assert all("conflict" in state.reason for state in index.rejected())
    # A rescan touches the members again, in any order: nothing new to report.
    assert index.apply(complete("1.0.0")) == [] and index.apply(complete("1.0")) == []
    index.apply(missing("1.0"))
    assert index.rejected() == [] and index.available() == ["1.0.0"]


def test_rejected_names_are_safe_to_print():
    index = VersionIndex()
    index.apply(VersionState("evil\nname\x1b[2J", Status.REJECTED, reason="not a PEP 440 version"))
    (state,) = index.rejected()
    assert state.name == "evil\\nname\\x1b[2J" and "\n" not in state.name
    assert index.names() == ["evil\nname\x1b[2J"]  # the index itself keeps the real name


def test_rejections_are_reported_once_per_change():
    index = VersionIndex()
    bad = VersionState(
        "2.0.0", Status.REJECTED, parse_version("2.0.0"), "metadata.json is missing", fingerprint=(1,)
    )
    assert kinds(index.apply(bad)) == [("version_rejected", "2.0.0")]
    assert index.apply(bad) == []
    still_bad = VersionState(
        "2.0.0", Status.REJECTED, parse_version("2.0.0"), "metadata.json is missing", fingerprint=(2,)
    )
    assert kinds(index.apply(still_bad)) == [("version_rejected", "2.0.0")]
    assert kinds(index.apply(complete("2.0.0", fp=3))) == [("version_added", "2.0.0")]


def test_settling_folders_are_not_available_and_not_rejected():
    index = VersionIndex()
    settling = VersionState("1.0.0", Status.SETTLING, parse_version("1.0.0"), fingerprint=(1,))
    assert index.apply(settling) == []
    assert index.available() == []


def test_ignored_names_never_enter():
    index = VersionIndex()
    assert index.apply(complete("1.0.0").__class__(".tmp-1", Status.REJECTED, reason="x")) == []
    assert index.names() == []


def test_candidates_put_latest_first_then_descend():
    index = VersionIndex()
    for name in ["1.0.0", "3.0.0rc1", "2.0.0", "1.5.0"]:
        index.apply(complete(name))
    assert index.latest() == "2.0.0"
    assert list(index.candidates()) == ["2.0.0", "3.0.0rc1", "1.5.0", "1.0.0"]
    assert index.available() == ["1.0.0", "1.5.0", "2.0.0", "3.0.0rc1"]


ops = st.lists(
    st.tuples(st.sampled_from(["1.0.0", "1.0", "1.1.0", "2.0.0rc1", "2.0.0", "0.9"]), st.booleans()),
    max_size=40,
)


@settings(max_examples=200)
@given(ops)
def test_incremental_latest_matches_recomputation(sequence):
    """Latest, kept up to date one change at a time, equals a fresh computation."""
    from regwatch.registry import pick_latest

    index = VersionIndex()
    present: set[str] = set()
    for name, add in sequence:
        index.apply(complete(name) if add else missing(name))
        (present.add if add else present.discard)(name)
        groups: dict = {}
        for n in present:
            groups.setdefault(parse_version(n), []).append(n)
        unique = {v: ns[0] for v, ns in groups.items() if len(ns) == 1}
        expected = pick_latest(unique)
        assert index.latest() == (unique[expected] if expected else None)
        assert index.available() == [unique[v] for v in sorted(unique)]
