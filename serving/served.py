"""One model the service serves, by name: its versions (registry, sync) and what answers (live).

Routes look a model up once by name (`ServiceState.model`) and pass this object on.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from regwatch.registry import ModelRegistry

from .errors import NoModelServing
from .live import LiveModel
from .loading import LoadedModel
from .sync import RegistrySync

if TYPE_CHECKING:
    from .cluster import Seat


@dataclass(frozen=True, slots=True, eq=False)
class ServedModel:
    name: str
    registry: ModelRegistry
    sync: RegistrySync
    live: LiveModel
    # Cluster mode: requests that pin no version take `seat.enter(live)` instead of `choose`.
    seat: "Seat | None" = None

    async def choose(self, version: str | None) -> LoadedModel:
        """The loaded model that answers: the serving one, or `version` pinned (loaded on
        demand). Raises NoModelServing, VersionNotFound, LoadError or LoadPending."""
        if version is None:
            serving = self.live.serving
            if serving is None:
                raise NoModelServing(f"no model is serving yet (model {self.name!r} has no version loaded)")
            return serving
        return await self.live.get(version)
