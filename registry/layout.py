"""Where each model lives on the volume.

    <root>/versions/<v>/                  the default model
    <root>/models/<name>/versions/<v>/    named models

A model's folder (`model_dir`) holds its `versions/`, its `latest/` mirror and its release
state. Names are checked before they become paths, so no name reaches outside the root.
"""

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import RegistryUnavailable

DEFAULT_MODEL = "default"
MODELS_DIR = "models"
MODEL_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class InvalidModelName(ValueError):
    """A name that can never be a model's (see `MODEL_NAME_RE`)."""


def is_model_name(name: str) -> bool:
    return MODEL_NAME_RE.fullmatch(name) is not None and name not in (".", "..")


def model_dir(root: str | os.PathLike[str], name: str, default_model: str = DEFAULT_MODEL) -> Path:
    """The folder of model `name`: the root itself for the default model."""
    root = Path(root).absolute()
    if name == default_model:
        return root
    if not is_model_name(name):
        raise InvalidModelName(
            f"{name!r} is not a model name (lowercase letters, digits, '.', '_', '-'; at most 64)"
        )
    return root / MODELS_DIR / name


@dataclass(frozen=True, slots=True)
class ModelEntries:
    """What `models/` holds: folders with valid names, and everything else with a reason."""

    names: frozenset[str]
    rejected: dict[str, str]


def list_models(root: str | os.PathLike[str]) -> ModelEntries:
    """The entries of `<root>/models/` (missing: none). A symlink, a file or a bad name is
    rejected with a reason; hidden entries (temp folders) are skipped without one."""
    models = Path(root) / MODELS_DIR
    names: set[str] = set()
    rejected: dict[str, str] = {}
    try:
        with os.scandir(models) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
                if not is_model_name(entry.name):
                    rejected[entry.name] = (
                        "not a model name (lowercase letters, digits, '.', '_', '-'; at most 64)"
                    )
                elif stat.S_ISLNK(mode):
                    rejected[entry.name] = "a symlink (a model folder must be a real folder inside the root)"
                elif not stat.S_ISDIR(mode):
                    rejected[entry.name] = "not a folder"
                else:
                    names.add(entry.name)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RegistryUnavailable(f"cannot list {models}: {exc.strerror or exc}") from None
    return ModelEntries(frozenset(names), rejected)
