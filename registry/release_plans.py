"""The release commands, once, for the CLI and the HTTP routes: what each changes in a
model's release state, what it refuses, and how a change is written.

A command is a plan: a function of the current state that returns the new state and what
the history records of it (a `Step`), or raises `ReleaseError`. Whether a version can take
traffic, and what serves now, differ between the CLI (the volume as it reads it) and a
running service (its index and live model): the caller answers them through `Checks`.

`carry_out` runs a plan twice: once on an unlocked read, so that a refusal, or a change
that would leave the state as it is, writes nothing at all (not even the lock file); then
under the lock, on the state as it is by then, so two operators at once never lose each
other's change.

What "from" means in the history: for `promote` and `rollback`, what took default traffic
just before (`Checks.serving`), which is also what `rollback` returns to, pinned; for
`canary`, `shadow` and aliases, the version they named before. A bad percent or alias name
is refused before the version is looked up: what the command alone shows comes first.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .release import Release, locked, read_release, write_release


class Checks(Protocol):
    """What a plan asks of its caller about the model's versions."""

    def servable(self, version: str) -> str:
        """The folder name of `version` (any spelling) when it can take traffic; else raise
        `ReleaseError` saying why not."""
        ...

    def serving(self, state: Release) -> str | None:
        """What takes default traffic under `state` now (None: nothing does)."""
        ...


@dataclass(frozen=True)
class Step:
    """One planned release change: the new state, and what the history records of it."""

    state: Release
    before: str | None
    after: str | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    action: str  # as the history records it
    plan: Callable[[Checks, Release], Step]


def carry_out(folder: Path, command: Command, checks: Checks, actor: str) -> tuple[Release, bool]:
    """The model's state after `command`, and whether it was written.

    Raises `ReleaseError` for a refusal or a release file that cannot be used, `OSError`
    when the change cannot be written; either way nothing changed."""
    current = read_release(folder)
    if command.plan(checks, current).state == current:
        return current, False
    with locked(folder):
        current = read_release(folder)
        step = command.plan(checks, current)
        if step.state == current:
            return current, False
        write_release(
            folder,
            step.state,
            actor=actor,
            action=command.action,
            before=step.before,
            after=step.after,
            details=step.details,
        )
        return step.state, True


def _chosen(checks: Checks, state: Release, ref: str) -> str:
    """`ref` (a version or `@alias`) as the folder name of a version that can take traffic."""
    return checks.servable(state.resolve(ref))


def promote(ref: str) -> Command:
    """Pin default traffic to `ref`; ends a canary."""

    def plan(checks: Checks, state: Release) -> Step:
        chosen, serving = _chosen(checks, state, ref), checks.serving(state)
        return Step(state.promote(chosen, serving), serving, chosen)

    return Command("promote", plan)


def rollback() -> Command:
    """Pin default traffic back to what served before the last promote, if it still can."""

    def plan(checks: Checks, state: Release) -> Step:
        serving = checks.serving(state)
        back = state.rollback(serving)
        assert back.stable is not None  # rollback refuses when there is nothing to return to
        return Step(back, serving, checks.servable(back.stable))

    return Command("rollback", plan)


def follow_latest() -> Command:
    return Command("follow-latest", lambda checks, state: Step(state.follow_latest(), state.stable, None))


def canary(ref: str, percent: float) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        state.with_canary(ref, percent)  # a bad percent is refused before the version is looked up
        chosen = _chosen(checks, state, ref)
        before = state.canary.version if state.canary else None
        return Step(state.with_canary(chosen, percent), before, chosen, {"percent": percent})

    return Command("canary", plan)


def stop_canary() -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        return Step(state.without_canary(), state.canary.version if state.canary else None, None)

    return Command("canary-stop", plan)


def shadow(ref: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        chosen = _chosen(checks, state, ref)
        return Step(state.with_shadow(chosen), state.shadow, chosen)

    return Command("shadow", plan)


def stop_shadow() -> Command:
    return Command("shadow-stop", lambda checks, state: Step(state.with_shadow(None), state.shadow, None))


def set_alias(name: str, ref: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        state.with_alias(name, ref)  # a bad alias name is refused before the version is looked up
        chosen = _chosen(checks, state, ref)
        return Step(state.with_alias(name, chosen), state.aliases.get(name), chosen, {"alias": name})

    return Command("alias-set", plan)


def remove_alias(name: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        return Step(state.without_alias(name), state.aliases.get(name), None, {"alias": name})

    return Command("alias-rm", plan)
