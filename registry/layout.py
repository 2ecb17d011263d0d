"""Where each model lives on the volume.

    <root>/versions/<v>/                  the default model
    <root>/models/<name>/versions/<v>/    named models

A model's folder (`model_dir`) holds its `versions/`, its `latest/` mirror and its release
state. Names are checked before they become paths, so no name reaches outside the root.
"""

import enum
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import RegistryUnavailable
from .versions import is_ignored_name

DEFAULT_MODEL = "default"
MODELS_DIR = "models"
RELEASE_FILE = "release.json"
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


class Touched(enum.Enum):
    """What part of the layout a path belongs to."""

    VERSION = "version"  # a version folder, or something inside it
    MODEL = "model"  # a model's folder or its versions/ itself
    MODELS = "models"  # models/ itself
    RELEASE = "release"  # a model's release file


@dataclass(frozen=True, slots=True)
class Location:
    touched: Touched
    model: str | None = None
    version: str | None = None  # the entry under versions/ (VERSION only)
    itself: bool = False  # the path is the version folder or release file itself


def locate(parts: Sequence[str], default_model: str = DEFAULT_MODEL) -> Location | None:
    """Where a path (split, relative to the root) is in the layout; None: nothing a model
    is made of (the `latest/` mirrors, stray files, temp and editor files)."""
    if parts[0] != MODELS_DIR:
        return _in_model(parts, default_model)
    if len(parts) == 1:
        return Location(Touched.MODELS)
    if parts[1].startswith("."):
        return None
    return _in_model(parts[2:], parts[1])


def _in_model(parts: Sequence[str], model: str) -> Location | None:
    """Where a path relative to a model's folder is."""
    if not parts or list(parts) == ["versions"]:
        return Location(Touched.MODEL, model)
    if list(parts) == [RELEASE_FILE]:
        return Location(Touched.RELEASE, model, itself=True)
    if parts[0] != "versions" or is_ignored_name(parts[1]) or is_ignored_name(parts[-1]):
        return None
    return Location(Touched.VERSION, model, parts[1], itself=len(parts) == 2)


def watch_points(root: str | os.PathLike[str]) -> list[Path]:
    """The folders to watch when only a few watches can be had (inotify's limit reached):
    the root, `models/`, and each model's `versions/`, whose entries are what changes."""
    root = Path(root)
    points = [root, root / "versions", root / MODELS_DIR]
    try:
        with os.scandir(root / MODELS_DIR) as entries:
            points += [root / MODELS_DIR / e.name / "versions" for e in entries if is_model_name(e.name)]
    except OSError:
        pass
    return [point for point in points if point.is_dir()]
