"""`regwatch models`: every model on the volume, and the entries of `models/` that are not one.

The default model (the root's own `versions/`) is always listed first. A folder
`models/<name>` whose name is the default model's can never be reached (that name means
the root), so it is listed as refused, like any entry `list_models` refuses.
"""

import json
from dataclasses import asdict, dataclass
from typing import Annotated

import typer

from regwatch.registry import RegistryError, list_models, model_dir, printable

from .common import RegistryOption, fail, load_settings, open_registry

app = typer.Typer()


@dataclass(frozen=True)
class ModelSummary:
    name: str
    default: bool
    versions: int
    latest: str | None


@app.command("models")
def list_all_models(
    registry: RegistryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object, for scripts")] = False,
) -> None:
    """List every model (the default one first): its number of versions and its latest; then
    the entries of models/ that are refused, with why."""
    settings = load_settings(registry=registry)
    try:
        entries = list_models(settings.registry)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    default = settings.default_model
    refused = dict(entries.rejected)
    if default in entries.names:
        refused[default] = f"unreachable: {default!r} names the default model, which lives in the root"
    summaries = []
    for name in (default, *sorted(entries.names - {default})):
        store = open_registry(model_dir(settings.registry, name, default), settings)
        summaries.append(
            ModelSummary(name, name == default, len(store.list_versions()), store.get_latest_version())
        )
    if as_json:
        listing = {
            "models": [asdict(summary) for summary in summaries],
            "refused": [{"name": name, "reason": refused[name]} for name in sorted(refused)],
        }
        typer.echo(json.dumps(listing, indent=2))
        return
    for summary in summaries:
        count = f"{summary.versions} version{'' if summary.versions == 1 else 's'}"
        marker = "*" if summary.default else " "
        typer.echo(f"{marker} {summary.name:<20} {count:<14} latest {summary.latest or '-'}")
    for name in sorted(refused):
        typer.echo(f"! {printable(name):<20} refused: {refused[name]}")
