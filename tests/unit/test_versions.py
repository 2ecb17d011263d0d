"""Version names and PEP 440 precedence."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from regwatch.registry import InvalidVersionName, is_ignored_name, parse_version, pick_latest

releases = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
pre = st.sampled_from(["", "a1", "b2", "rc1", ".dev3", ".post1"])
names = st.builds(lambda r, p, v: f"{'v' if v else ''}{r[0]}.{r[1]}.{r[2]}{p}", releases, pre, st.booleans())


def test_numeric_not_lexical_order():
    assert parse_version("1.10.0") > parse_version("1.9.0")


@pytest.mark.parametrize("name", ["1.2.0", "v1.2.0", "2.0.0-rc.1", "2.0.0rc1", "1.0", "1!2.0", "1.0.post1"])
def test_valid_names(name):
    assert isinstance(parse_version(name), Version)


@pytest.mark.parametrize(
    "name", ["foo", "", "..", "../1.0.0", "1.0.0/..", " 1.0.0", "1.0.0\x00", "a" * 200, "latest"]
)
def test_invalid_names(name):
    with pytest.raises(InvalidVersionName):
        parse_version(name)


def test_equivalent_spellings_are_the_same_version():
    assert parse_version("1.0") == parse_version("1.0.0") == parse_version("v1.0.0")
    assert parse_version("2.0.0-rc.1") == parse_version("2.0.0rc1")


def test_hidden_and_temp_names_are_ignored_but_underscore_is_not():
    assert is_ignored_name(".tmp-1.0.0-host-1-abc")
    assert is_ignored_name("1.0.0~") and is_ignored_name("x.swp") and is_ignored_name("a.tmp")
    assert not is_ignored_name("_staging") and not is_ignored_name("1.0.0")


def test_latest_prefers_stable_unless_opted_in():
    versions = [Version(v) for v in ["1.0.0", "1.1.0", "2.0.0rc1", "2.0.0.dev1"]]
    assert pick_latest(versions) == Version("1.1.0")
    assert pick_latest(versions, include_prereleases=True) == Version("2.0.0rc1")
    assert pick_latest([Version("2.0.0rc1"), Version("2.0.0a1")]) == Version("2.0.0rc1")
    assert pick_latest([]) is None


@given(st.lists(names, min_size=1, max_size=20))
def test_latest_is_the_maximum_of_the_preferred_class(raw):
    versions = [parse_version(n) for n in raw]
    latest = pick_latest(versions)
    stable = [v for v in versions if not (v.is_prerelease or v.is_devrelease)]
    assert latest == max(stable or versions)
    assert pick_latest(versions, include_prereleases=True) == max(versions)


@given(names, names)
def test_order_is_total_and_consistent_with_parsing(a, b):
    va, vb = parse_version(a), parse_version(b)
    assert (va < vb) + (va == vb) + (va > vb) == 1
    assert parse_version(str(va)) == va
