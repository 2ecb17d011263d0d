"""Parsing `metadata.json` from an untrusted volume.

The file is size-bounded by the reader (`files.read_regular`); here its nesting depth is
measured before the parser runs (CPython's parser recurses, and 100,000 `[` would raise
`RecursionError`), non-finite numbers are refused (`NaN` and `1e400` would become invalid
JSON on the way out, on SSE and `/models`), and the known keys are checked.
"""

import json
import math
import re
from itertools import accumulate
from typing import Any

from .errors import CorruptVersion

METADATA_FILE = "metadata.json"
DEFAULT_MAX_METADATA_BYTES = 1 << 20
MAX_DEPTH = 64

# A JSON string literal (escapes included); removing them leaves the structure.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotFinite(f"{name} is not allowed, only finite numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text} is out of range, only finite numbers are allowed")
    return value


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, counted without recursion.

    For valid JSON this is exactly the depth the parser would reach; for invalid JSON it is
    at least the depth the parser reaches before it gives up.
    """
    skeleton = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, skeleton), initial=0))


def parse_metadata(raw: bytes) -> dict[str, Any]:
    """The metadata object in `raw`, or `CorruptVersion` saying what is wrong with it."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptVersion(f"{METADATA_FILE} is not UTF-8: {exc}") from None
    if nesting_depth(text) > MAX_DEPTH:
        raise CorruptVersion(f"{METADATA_FILE} nests deeper than {MAX_DEPTH} levels")
    try:
        data = _DECODER.decode(text)
    except ValueError as exc:  # JSONDecodeError, _NotFinite, int too long for int()
        raise CorruptVersion(f"{METADATA_FILE} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CorruptVersion(f"{METADATA_FILE} must hold a JSON object, not {type(data).__name__}")
    n_features = data.get("n_features")
    if n_features is not None and (
        isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1
    ):
        raise CorruptVersion("metadata n_features must be a positive integer")
    checksum = data.get("sha256")
    if checksum is not None and not (isinstance(checksum, str) and _HEX.fullmatch(checksum)):
        raise CorruptVersion("metadata sha256 must be a 64-character hex digest")
    return data
