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
from .layout import (
    DEFAULT_MODEL,
    MODELS_DIR,
    InvalidModelName,
    Location,
    ModelEntries,
    Touched,
    is_model_name,
    list_models,
    locate,
    model_dir,
    watch_points,
)
from .metadata import DEFAULT_MAX_METADATA_BYTES, METADATA_FILE
from .model_registry import ModelRegistry
from .versions import is_ignored_name, parse_version, pick_latest, printable, try_parse_version

__all__ = [
    "DEFAULT_MAX_METADATA_BYTES",
    "DEFAULT_MODEL",
    "METADATA_FILE",
    "MODELS_DIR",
    "MODEL_FILES",
    "Change",
    "ChangeKind",
    "CorruptVersion",
    "FileIdentity",
    "InvalidModelName",
    "InvalidVersionName",
    "Location",
    "ModelEntries",
    "ModelFormat",
    "ModelRegistry",
    "RegistryError",
    "RegistryUnavailable",
    "Status",
    "Touched",
    "VersionExists",
    "VersionIndex",
    "VersionNotFound",
    "VersionState",
    "is_ignored_name",
    "is_model_name",
    "list_models",
    "locate",
    "model_dir",
    "parse_version",
    "pick_latest",
    "printable",
    "read_verified",
    "try_parse_version",
    "watch_points",
]
