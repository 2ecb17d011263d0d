"""Release control from the command line: each command changes one model's `release.json`
through `regwatch.registry.release`, and every server watching the volume follows.

A change is planned twice: once on an unlocked read, so that a refusal (an unknown or
unservable version, a bad percent, an unknown alias, nothing to roll back to, a broken
`release.json`: exit 1, the reason on stderr) writes nothing at all, not even the lock
file; then again under the lock, from the state as it is by then, so two operators at once
never lose each other's change. A command that would leave the state as it is writes
nothing and says so (exit 0), so scripts can repeat a command safely.

What "from" means in the history: for `promote` and `rollback`, the version that took
default traffic just before, that is the pinned stable or, while the model follows latest,
the latest version on the volume at that moment (what served). It is also what `rollback`
returns to, pinned. For `canary`, `shadow` and `alias`, the version they named before.
"""

import getpass
import json
import os
from collections.abc import Callable
from typing import Annotated

import typer

from regwatch.registry import RegistryError, printable
from regwatch.registry.release import (
    Release,
    ReleaseError,
    Step,
    locked,
    read_history,
    read_release,
    write_release,
)

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


def _version(target: ModelTarget, state: Release, ref: str) -> str:
    """`ref` (a version or `@alias`) as the folder name of a version that can take traffic."""
    return target.servable(state.resolve(ref))


def _serving(target: ModelTarget, state: Release) -> str | None:
    return state.stable if state.stable is not None else target.registry.get_latest_version()


def _change(
    registry: RegistryOption, model: ModelOption, action: str, plan: Callable[[ModelTarget, Release], Step]
) -> None:
    """Refuse, or write the change (unless there is none), then print the model's state."""
    target = open_model(registry, model)
    try:
        state, written = _apply(target, action, plan)
    except RegistryError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write the release state in {target.folder}: {exc.strerror or exc}") from None
    if not written:
        typer.echo(f"no change: the release of model {target.name} already is as asked; nothing written")
    _print_state(target, state)


def _print_state(target: ModelTarget, state: Release) -> None:
    typer.echo(f"model     {target.name}\n{state.describe(target.registry.get_latest_version())}")


def _apply(
    target: ModelTarget, action: str, plan: Callable[[ModelTarget, Release], Step]
) -> tuple[Release, bool]:
    """The state after `plan`, and whether it was written. Refusals and no-ops are settled on
    an unlocked read, so they write nothing, not even the lock file."""
    current = read_release(target.folder)
    if plan(target, current).state == current:
        return current, False
    with locked(target.folder):
        current = read_release(target.folder)
        step = plan(target, current)
        if step.state == current:
            return current, False
        write_release(
            target.folder,
            step.state,
            actor=actor(),
            action=action,
            before=step.before,
            after=step.after,
            details=step.details,
        )
        return step.state, True


@app.command()
def promote(version: VersionArgument, registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Pin default traffic to VERSION (new versions still load, but take none); ends a canary."""

    def plan(target: ModelTarget, state: Release) -> Step:
        chosen, serving = _version(target, state, version), _serving(target, state)
        return Step(state.promote(chosen, serving), serving, chosen)

    _change(registry, model, "promote", plan)


@app.command()
def rollback(registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Pin default traffic back to the version that served before the last promote."""

    def plan(target: ModelTarget, state: Release) -> Step:
        serving = _serving(target, state)
        back = state.rollback(serving)
        assert back.stable is not None  # rollback refuses when there is nothing to return to
        return Step(back, serving, target.servable(back.stable))

    _change(registry, model, "rollback", plan)


@app.command("follow-latest")
def follow_latest(registry: RegistryOption = None, model: ModelOption = None) -> None:
    """Let default traffic follow the latest version again (ends a pin and a canary)."""

    def plan(target: ModelTarget, state: Release) -> Step:
        return Step(state.follow_latest(), state.stable, None)

    _change(registry, model, "follow-latest", plan)


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

    def plan(target: ModelTarget, state: Release) -> Step:
        before = state.canary.version if state.canary else None
        if version is None or percent is None:
            return Step(state.without_canary(), before, None)
        chosen = _version(target, state, version)
        return Step(state.with_canary(chosen, percent), before, chosen, {"percent": percent})

    _change(registry, model, "canary-stop" if stop else "canary", plan)


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

    def plan(target: ModelTarget, state: Release) -> Step:
        chosen = None if version is None else _version(target, state, version)
        return Step(state.with_shadow(chosen), state.shadow, chosen)

    _change(registry, model, "shadow-stop" if stop else "shadow", plan)


@alias_app.command("set")
def alias_set(
    name: Annotated[str, typer.Argument(help="the alias, e.g. champion")],
    version: VersionArgument,
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Point alias NAME at VERSION."""

    def plan(target: ModelTarget, state: Release) -> Step:
        chosen = _version(target, state, version)
        return Step(state.with_alias(name, chosen), state.aliases.get(name), chosen, {"alias": name})

    _change(registry, model, "alias-set", plan)


@alias_app.command("rm")
def alias_rm(
    name: Annotated[str, typer.Argument(help="the alias")],
    registry: RegistryOption = None,
    model: ModelOption = None,
) -> None:
    """Remove alias NAME."""

    def plan(target: ModelTarget, state: Release) -> Step:
        return Step(state.without_alias(name), state.aliases.get(name), None, {"alias": name})

    _change(registry, model, "alias-rm", plan)


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
