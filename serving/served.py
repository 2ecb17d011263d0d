"""One model the service serves, by name: its versions (registry, sync), what answers (live),
its release state (release), its shadow comparison (shadow) and, in a fleet, its seat.

Routes look a model up once by name (`ServiceState.model`) and pass this object on.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from regwatch.registry import ModelRegistry, VersionNotFound
from regwatch.registry.release import ReleaseError

from .errors import NoModelServing
from .live import LiveModel
from .release_file import ReleaseFile
from .routing import Choice, Role, Split
from .shadow import Shadow
from .sync import RegistrySync

if TYPE_CHECKING:  # cluster mode only
    from .cluster import FleetTicket, Seat


@dataclass(frozen=True, slots=True, eq=False)
class ServedModel:
    name: str
    registry: ModelRegistry
    sync: RegistrySync
    live: LiveModel
    release: ReleaseFile
    shadow: Shadow
    seat: "Seat | None" = None  # cluster mode: default traffic passes the fleet's gate

    async def admit(
        self, version: str | None, routing_key: str | None = None
    ) -> "tuple[Choice, FleetTicket | None]":
        """`choose`, and in a fleet, default traffic (stable and the canary's share) through
        the fleet's gate: the ticket counts the request in flight until `leave()` (after the
        response is built)."""
        if self.seat is None or version is not None:
            return await self.choose(version, routing_key), None
        ticket = await self.seat.enter(routing_key)
        return ticket.choice, ticket

    @property
    def canary(self) -> Split | None:
        """The canary taking its share of default traffic here now (in a fleet: the fleet's
        canary, once every replica switched to it)."""
        return self.live.canary if self.seat is None else self.seat.canary()

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
