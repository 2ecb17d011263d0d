"""What every volume command shares: its settings, the `--registry`/`--model` options, the
one way to open the model a command names, and how a refusal is reported.

Reading never creates anything on the volume: a model folder without `versions/` is read
as empty. Only publishing creates a named model's folder (`models/<name>/versions/`).
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from regwatch.api.settings import Settings
from regwatch.registry import (
    InvalidModelName,
    ModelRegistry,
    RegistryError,
    list_models,
    model_dir,
)

RegistryOption = Annotated[
    Path | None,
    typer.Option("--registry", "-r", help="registry root [env: REGWATCH_REGISTRY]", show_default=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="the model [default: REGWATCH_DEFAULT_MODEL, 'default': the one in <registry>/versions]",
        show_default=False,
    ),
]


def fail(message: str) -> typer.Exit:
    """Say why on stderr; the caller raises the returned exit (status 1)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


def load_settings(**overrides: Any) -> Settings:
    """Flags win over `REGWATCH_*` variables, which win over defaults; a bad value exits 1."""
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        # A whole-settings check (two settings that conflict) has no field to name.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors()
        )
        raise fail(f"invalid settings: {problems}") from None


def open_registry(folder: Path, settings: Settings) -> ModelRegistry:
    """One model's registry with the server's rules, scanned only if `versions/` exists
    (a scan would create it)."""
    return ModelRegistry(
        folder,
        include_prereleases=settings.include_prereleases,
        max_metadata_bytes=settings.max_metadata_bytes,
        allow_pickle=settings.allow_pickle,
        scan=os.path.lexists(folder / "versions"),
    )


@dataclass(frozen=True)
class ModelTarget:
    """The model a command names: its name, its folder and its scanned registry."""

    name: str
    folder: Path
    registry: ModelRegistry
    settings: Settings


def open_model(registry: Path | None, model: str | None, *, create: bool = False) -> ModelTarget:
    """The model named by `--registry`/`--model`; exits 1 for a bad name, for a named
    model that does not exist (unless `create`), and for a folder the server refuses."""
    settings = load_settings(registry=registry)
    name = settings.default_model if model is None else model
    try:
        folder = model_dir(settings.registry, name, settings.default_model)
    except InvalidModelName as exc:
        raise fail(str(exc)) from None
    if name != settings.default_model:
        try:
            entries = list_models(settings.registry)
        except RegistryError as exc:
            raise fail(str(exc)) from None
        if name in entries.rejected:
            raise fail(f"model {name!r} is refused: {entries.rejected[name]}")
        if name not in entries.names and not create:
            raise fail(f"no model {name!r} in {settings.registry} (publishing a version to it creates it)")
    return ModelTarget(name, folder, open_registry(folder, settings), settings)
