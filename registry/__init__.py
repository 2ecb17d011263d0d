"""The registry volume: layout, version ordering, completeness and atomic publish."""

from .errors import CorruptVersion, InvalidVersionName, RegistryError, VersionExists, VersionNotFound
from .folder import METADATA_FILE, MODEL_FILE, Status, VersionState
from .index import Change, ChangeKind, VersionIndex
from .model_registry import ModelRegistry
from .versions import is_ignored_name, parse_version, pick_latest, try_parse_version

__all__ = [
    "METADATA_FILE",
    "MODEL_FILE",
    "Change",
    "ChangeKind",
    "CorruptVersion",
    "InvalidVersionName",
    "ModelRegistry",
    "RegistryError",
    "Status",
    "VersionExists",
    "VersionIndex",
    "VersionNotFound",
    "VersionState",
    "is_ignored_name",
    "parse_version",
    "pick_latest",
    "try_parse_version",
]
