"""The registry volume: layout, version ordering, completeness and atomic publish."""

from .errors import (
    CorruptVersion,
    InvalidVersionName,
    RegistryError,
    RegistryUnavailable,
    VersionExists,
    VersionNotFound,
)
from .files import FileIdentity, read_verified
from .folder import Status, VersionState
from .formats import MODEL_FILES, ModelFormat
from .index import Change, ChangeKind, VersionIndex
from .metadata import DEFAULT_MAX_METADATA_BYTES, METADATA_FILE
from .model_registry import ModelRegistry
from .versions import is_ignored_name, parse_version, pick_latest, printable, try_parse_version

__all__ = [
    "DEFAULT_MAX_METADATA_BYTES",
    "METADATA_FILE",
    "MODEL_FILES",
    "Change",
    "ChangeKind",
    "CorruptVersion",
    "FileIdentity",
    "InvalidVersionName",
    "ModelFormat",
    "ModelRegistry",
    "RegistryError",
    "RegistryUnavailable",
    "Status",
    "VersionExists",
    "VersionIndex",
    "VersionNotFound",
    "VersionState",
    "is_ignored_name",
    "parse_version",
    "pick_latest",
    "printable",
    "read_verified",
    "try_parse_version",
]
