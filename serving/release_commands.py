"""Release changes made by the service (the HTTP path), through `registry.release` as the CLI.

A command is a plan: a function of the current state that returns the new state and what
the history records of it, or refuses. The plan runs twice in a worker thread: once on an
unlocked read, so that a refusal writes nothing at all (not even the lock file); then under
the lock, on the state as it is by then, so two operators at once never lose each other's
change. A change that would leave the state as it is writes nothing. The new state is
applied at once (the watcher's hint that follows finds nothing new).

What a plan may name is checked against this service's own view: the index must hold the
version complete, and its current files must not have failed to load here. The history's
"from" for promote and rollback is the version that took default traffic just before:
the promoted stable, or, while following latest, the version serving (else the latest).

Refusals (unknown version, one that failed to load or is not complete, a bad percent, an
unknown alias, nothing to roll back to, a release file that cannot be used) raise
`ReleaseRefused` with the reason, and change nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.from_thread

from regwatch.registry import RegistryError, VersionNotFound, printable
from regwatch.registry.release import Release, Step, locked, read_release, write_release

from .served import ServedModel


class ReleaseRefused(Exception):
    """A release change that was refused; nothing changed. The message says why."""


@dataclass(frozen=True)
class Command:
    action: str  # as the history records it (the CLI's names)
    plan: Callable[["Checks", Release], Step]


class Checks:
    """What a plan asks of the service, from a worker thread: each answer is read on the
    event loop, where the index and the live model change."""

    def __init__(self, served: ServedModel) -> None:
        self._served = served

    def servable(self, version: str) -> str:
        return str(anyio.from_thread.run_sync(self._servable, version))

    def serving(self, state: Release) -> str | None:
        if state.stable is not None:
            return state.stable
        return anyio.from_thread.run_sync(self._serving)

    def _servable(self, version: str) -> str:
        """The folder name of `version` (any spelling) if it can take traffic here."""
        served = self._served
        try:
            name = served.registry.resolve(version).name
        except VersionNotFound:
            rejected = [s.reason for s in served.registry.index.rejected() if s.name == printable(version)]
            why = f"is not servable: {rejected[0]}" if rejected else "is not on the volume (or not complete)"
            raise ReleaseRefused(f"model {served.name}: version {printable(version)!r} {why}") from None
        failure = served.live.failures.get(name)
        if failure is not None:
            raise ReleaseRefused(f"model {served.name}: version {name} failed to load: {failure}")
        return name

    def _serving(self) -> str | None:
        serving = self._served.live.serving
        return serving.version if serving is not None else self._served.registry.get_latest_version()


async def apply(served: ServedModel, command: Command, actor: str) -> Release:
    """Plan, refuse or write `command` for `served`; the state in force afterwards."""
    folder = served.release.folder
    checks = Checks(served)

    def change() -> None:
        try:
            command.plan(checks, read_release(folder))
            with locked(folder):
                current = read_release(folder)
                step = command.plan(checks, current)
                if step.state != current:
                    write_release(
                        folder,
                        step.state,
                        actor=actor,
                        action=command.action,
                        before=step.before,
                        after=step.after,
                        details=step.details,
                    )
        except RegistryError as exc:  # ReleaseError: the state refuses; or the file cannot be used
            raise ReleaseRefused(str(exc).replace(str(folder) + "/", "")) from None
        except OSError as exc:
            raise ReleaseRefused(f"cannot write the release state: {exc.strerror or exc}") from None

    await anyio.to_thread.run_sync(change)
    return await served.release.refresh()


# -- the commands ------------------------------------------------------------------------


def promote(ref: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        chosen, serving = checks.servable(state.resolve(ref)), checks.serving(state)
        return Step(state.promote(chosen, serving), serving, chosen)

    return Command("promote", plan)


def rollback() -> Command:
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
        chosen = checks.servable(state.resolve(ref))
        before = state.canary.version if state.canary else None
        return Step(state.with_canary(chosen, percent), before, chosen, {"percent": percent})

    return Command("canary", plan)


def stop_canary() -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        return Step(state.without_canary(), state.canary.version if state.canary else None, None)

    return Command("canary-stop", plan)


def shadow(ref: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        chosen = checks.servable(state.resolve(ref))
        return Step(state.with_shadow(chosen), state.shadow, chosen)

    return Command("shadow", plan)


def stop_shadow() -> Command:
    return Command("shadow-stop", lambda checks, state: Step(state.with_shadow(None), state.shadow, None))


def set_alias(name: str, ref: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        state.with_alias(name, ref)  # a bad alias name is refused before the version is looked up
        chosen = checks.servable(state.resolve(ref))
        return Step(state.with_alias(name, chosen), state.aliases.get(name), chosen, {"alias": name})

    return Command("alias-set", plan)


def remove_alias(name: str) -> Command:
    def plan(checks: Checks, state: Release) -> Step:
        return Step(state.without_alias(name), state.aliases.get(name), None, {"alias": name})

    return Command("alias-rm", plan)
