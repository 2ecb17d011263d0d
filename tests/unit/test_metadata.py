"""metadata.json parsing: bounded depth without recursion, finite numbers, known keys."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwatch.registry import CorruptVersion
from regwatch.registry.metadata import MAX_DEPTH, nesting_depth, parse_metadata


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 64"),
        (b'{"a": ' * 100_000, "nests deeper than 64"),  # unterminated, still no RecursionError
        (b'{"loss": NaN}', "NaN is not allowed"),
        (b'{"loss": -Infinity}', "-Infinity is not allowed"),
        (b'{"loss": 1e400}', "out of range"),
        (b'{"big": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "must hold a JSON object"),
        (b'{"n_features": true}', "n_features"),
        (b'{"sha256": "zz"}', "64-character"),
    ],
)
def test_bad_metadata_is_refused_with_a_reason(raw, reason):
    with pytest.raises(CorruptVersion, match=reason):
        parse_metadata(raw)


def test_good_metadata_keeps_unknown_keys():
    raw = json.dumps({"sha256": "A" * 64, "n_features": 4, "custom": {"deep": [[1.5]]}}).encode()
    assert parse_metadata(b"\xef\xbb\xbf" + raw)["custom"] == {"deep": [[1.5]]}


def test_depth_at_the_limit_is_accepted():
    assert parse_metadata(b'{"a":' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH)["a"]


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\x'), inner, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300)
@given(json_values)
def test_nesting_depth_is_the_parsers_depth(value):
    """Brackets inside strings (escaped quotes included) never count."""
    assert nesting_depth(json.dumps(value)) == _depth(value)
