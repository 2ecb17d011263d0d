"""Release control from the command line: each command changes one model's `release.json`
through the plans of `regwatch.registry.release_plans` (the HTTP routes' too), and every
server watching the volume follows.

A refusal (an unknown or unservable version, a bad percent, an unknown alias, nothing to
roll back to, a broken `release.json`: exit 1, the reason on stderr) writes nothing at
all, not even the lock file. A command that would leave the state as it is writes nothing
and says so (exit 0), so scripts can repeat a command safely.

What serves now, as the volume shows it (the history's "from" for `promote` and
`rollback`, and what `rollback` returns to): the pinned stable or, while the model follows
latest, the latest version on the volume at that moment.
"""

import getpass
import json
import os
from dataclasses import dataclass
from typing import Annotated

import typer

from regwatch.registry import RegistryError, VersionNotFound, printable, release_plans, try_parse_version
from regwatch.registry.release import Release, ReleaseError, read_history, read_release
from regwatch.registry.release_plans import Command, carry_out

from .common import ModelOption, ModelTarget, RegistryOption, fail, open_model

app = typer.Typer()
alias_app = typer.Typer(
    help="Named pointers to versions: ?version=@NAME pins by alias.", no_args_is_help=True
)
app.add_typer(alias_app, name="alias")

VersionArgument = Annotated[str, typer.Argument(help="a version, or @alias", show_default=False)]


def actor() -> str:
    """Who changes the release: the OS user, else (a uid with no name, as in a container) the uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass(frozen=True)
class VolumeChecks:
    """`release_plans.Checks` over the volume as this command scanned it."""

    target: ModelTarget

    def servable(self, version: str) -> str:
        """The folder name of `version` (any spelling) when the index holds it complete."""
        target = self.target
        try:
            return target.registry.resolve(version).name
        except VersionNotFound:
            pass
        parsed = try_parse_version(version)
        if parsed is None:
            raise ReleaseError(f"model {target.name}: {version!r} is not a PEP 440 version")
        reasons = [state.reason for state in target.registry.index.rejected() if state.version == parsed]
        why = f"is not servable: {reasons[0]}" if reasons else "is not on the volume"
        raise ReleaseError(f"model {target.name}: version {version!r} {why}")

    def serving(self, state: Release) -> str | None:
        return state.stable if state.stable is not None else self.target.registry.get_latest_version()


def _change(registry: RegistryOption, model: ModelOption, command: Command) -> None:
    """Refuse, or write the change (unless there is none), then print the model's state."""
    target = open_model(registry, model)
    try:
        state, written = carry_out(target.folder, command, VolumeChecks(target), actor())
    except RegistryError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the release state in {target.folder}: {exc.strerror or exc}") from None
    if not written:
        typer.echo(f"no change: the release of model {target.name} already is as asked; nothing written")
    _print_state(target, state)


def _print_state(target: ModelTarget, state: Release) -> None:
    typer.echo(f"model     {target.name}\n{state.describe(target.registry.get_latest_version())}")


@app.command()
def promote(version: VersionArgument, registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Pin default traffic to VERSION (new versions still load, but take none); ends a canary."""
    _change(registry, model, release_plans.promote(version))


@app.command()
def rollback(registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Pin default traffic back to the version that served before the last promote."""
    _change(registry, model, release_plans.rollback())


@app.command("follow-latest")
def follow_latest(registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Let default traffic follow the latest version again (ends a pin and a canary)."""
    _change(registry, model, release_plans.follow_latest())


@app.command()
def canary(
    version: Annotated[str | None, typer.Argument(help="a version, or @alias", show_default=False)] = None,
    percent: Annotated[float | None, typer.Option(help="share of default traffic, in (0, 100]")] = None,
    stop: Annotated[bool, typer.Option("--stop", help="end the canary")] = False,
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Send PERCENT % of default traffic to VERSION (sticky by X-Routing-Key), or --stop."""
    if stop == (version is not None) or (version is None) != (percent is None):
        raise typer.BadParameter("give VERSION with --percent P, or --stop alone")
    if version is None or percent is None:
        _change(registry, model, release_plans.stop_canary())
    else:
        _change(registry, model, release_plans.canary(version, percent))


@app.command()
def shadow(
    version: Annotated[str | None, typer.Argument(help="a version, or @alias", show_default=False)] = None,
    stop: Annotated[bool, typer.Option("--stop", help="end the shadow")] = False,
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Also predict every default request with VERSION, off the response path; or --stop."""
    if stop == (version is not None):
        raise typer.BadParameter("give VERSION, or --stop alone")
    command = release_plans.stop_shadow() if version is None else release_plans.shadow(version)
    _change(registry, model, command)


@alias_app.command("set")
def alias_set(
    name: Annotated[str, typer.Argument(help="the alias, e.g. champion")],
    version: VersionArgument,
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Point alias NAME at VERSION."""
    _change(registry, model, release_plans.set_alias(name, version))


@alias_app.command("rm")
def alias_rm(
    name: Annotated[str, typer.Argument(help="the alias")],
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Remove alias NAME."""
    _change(registry, model, release_plans.remove_alias(name))


AsJson = Annotated[bool, typer.Option("--json", help="JSON, for scripts")]


@app.command("release")
def show_release(registry: RegistryOption = None, model: ModelOption = None, as_json: AsJson = False) -> None:
    """Print the model's release state (what takes default traffic, canary, shadow, aliases)."""
    target = open_model(registry, model)
    try:
        state = read_release(target.folder)
    except ReleaseError as exc:
        raise fail(str(exc)) from None
    if as_json:
        latest = target.registry.get_latest_version()
        typer.echo(json.dumps({"model": target.name, "latest": latest, **state.to_json()}, indent=2))
    else:
        _print_state(target, state)


@app.command()
def history(registry: RegistryOption = None, model: ModelOption = None, as_json: AsJson = False) -> None:
    """Print the model's release history, oldest first: time, actor, action, from -> to."""
    entries = read_history(open_model(registry, model).folder)
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    fixed = ("at", "actor", "action", "from", "to")
    for entry in entries:
        at, who, action, before, after = (printable(str(entry.get(key) or "-")) for key in fixed)
        extras = " ".join(
            f"{printable(str(k))}={printable(str(v))}" for k, v in entry.items() if k not in fixed
        )
        typer.echo(f"{at}  {who:<12} {action:<14} {before} -> {after}  {extras}".rstrip())
