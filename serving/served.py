"""One model the service serves, by name: its versions (the registry) and what answers (live).

Routes look a model up once by name (`ServiceState.model`) and pass this object on, so the
day the service serves many models only that lookup changes.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from regwatch.registry import ModelRegistry

from .errors import NoModelServing
from .live import LiveModel
from .loading import LoadedModel

if TYPE_CHECKING:
    from .cluster import Seat


@dataclass(frozen=True, slots=True)
class ServedModel:
    name: str
    registry: ModelRegistry
    live: LiveModel
    # Cluster mode: requests that pin no version take `seat.enter(live)` instead of `choose`.
    seat: "Seat | None" = None

    async def choose(self, version: str | None) -> LoadedModel:
        """The loaded model that answers: the serving one, or `version` pinned (loaded on
        demand). Raises NoModelServing, VersionNotFound, LoadError or LoadPending."""
        if version is None:
            serving = self.live.serving
            if serving is None:
                raise NoModelServing("no model is serving yet")
            return serving
        return await self.live.get(version)
