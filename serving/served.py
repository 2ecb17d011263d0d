"""One model the service serves, by name: its versions (registry, sync), what answers (live),
its release state (release) and its shadow comparison (shadow).

Routes look a model up once by name (`ServiceState.model`) and pass this object on.
"""

from dataclasses import dataclass

from regwatch.registry import ModelRegistry, VersionNotFound
from regwatch.registry.release import ReleaseError

from .errors import NoModelServing
from .live import LiveModel
from .release_file import ReleaseFile
from .routing import Choice, Role
from .shadow import Shadow
from .sync import RegistrySync


@dataclass(frozen=True, slots=True, eq=False)
class ServedModel:
    name: str
    registry: ModelRegistry
    sync: RegistrySync
    live: LiveModel
    release: ReleaseFile
    shadow: Shadow

    async def choose(self, version: str | None, routing_key: str | None = None) -> Choice:
        """The loaded model that answers, and its role: with `version` (or `@alias`) that
        version, loaded on demand; else stable, or the canary for its share of routing keys.
        Raises NoModelServing, VersionNotFound, LoadError or LoadPending."""
        live = self.live
        if version is not None:
            if version.startswith("@"):
                try:
                    version = live.release.resolve(version)
                except ReleaseError as exc:
                    raise VersionNotFound(f"model {self.name!r}: {exc}") from None
            return Choice(await live.get(version), Role.PINNED)
        serving = live.serving
        if serving is None:
            raise NoModelServing(f"no model is serving yet (model {self.name!r} has no version loaded)")
        canary = live.canary
        if canary is not None and canary.takes(routing_key):
            return Choice(canary.model, Role.CANARY)
        return Choice(serving, Role.STABLE)
