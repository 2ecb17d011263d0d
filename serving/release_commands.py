"""Release changes made by the service (the HTTP path): the plans of
`registry.release_plans`, as the CLI's, checked against this service's own view.

What a plan may name must be held complete by the index, and its current files must not
have failed to load here. What serves now (the history's "from" for promote and rollback)
is the promoted stable, or, while following latest, the version serving (else the
latest). The plan runs in a worker thread; each answer is read on the event loop, where
the index and the live model change. The new state is applied at once (the watcher's hint
that follows finds nothing new).

Refusals (unknown version, one that failed to load or is not complete, a bad percent, an
unknown alias, nothing to roll back to, a release file that cannot be used) raise
`ReleaseRefused` with the reason, and change nothing.
"""

import anyio
import anyio.from_thread

from regwatch.registry import RegistryError, VersionNotFound, printable
from regwatch.registry.release import Release, ReleaseError
from regwatch.registry.release_plans import Command, carry_out

from .served import ServedModel


class ReleaseRefused(Exception):
    """A release change that was refused; nothing changed. The message says why."""


class ServedChecks:
    """`release_plans.Checks` over a running model, asked from a worker thread."""

    def __init__(self, served: ServedModel) -> None:
        self._served = served

    def servable(self, version: str) -> str:
        return str(anyio.from_thread.run_sync(self._servable, version))

    def serving(self, state: Release) -> str | None:
        if state.stable is not None:
            return state.stable
        return anyio.from_thread.run_sync(self._serving)

    def _servable(self, version: str) -> str:
        served = self._served
        try:
            name = served.registry.resolve(version).name
        except VersionNotFound:
            rejected = [s.reason for s in served.registry.index.rejected() if s.name == printable(version)]
            why = f"is not servable: {rejected[0]}" if rejected else "is not on the volume (or not complete)"
            raise ReleaseError(f"model {served.name}: version {printable(version)!r} {why}") from None
        failure = served.live.failures.get(name)
        if failure is not None:
            raise ReleaseError(f"model {served.name}: version {name} failed to load: {failure}")
        return name

    def _serving(self) -> str | None:
        serving = self._served.live.serving
        return serving.version if serving is not None else self._served.registry.get_latest_version()


async def apply(served: ServedModel, command: Command, actor: str) -> Release:
    """Plan, refuse or write `command` for `served`; the state in force afterwards."""
    folder = served.release.folder
    checks = ServedChecks(served)

    def change() -> None:
        try:
            carry_out(folder, command, checks, actor)
        except RegistryError as exc:  # ReleaseError: the state refuses; or the file cannot be used
            raise ReleaseRefused(str(exc).replace(str(folder) + "/", "")) from None
        except OSError as exc:
            raise ReleaseRefused(f"cannot write the release state: {exc.strerror or exc}") from None

    await anyio.to_thread.run_sync(change)
    return await served.release.refresh()
