"""Cluster mode as the serving core sees it: one `Fleet` per process, one `Seat` per model.

A model's `LiveModel` reports through its seat what it would serve alone (`want`: the
version, and the canary with its share) and what it holds loaded and warmed (`set_loaded`),
and is told through it what the fleet answers with (`listener`): it swaps only then.
Requests that name no version pass the seat's gate (`Seat.enter`), which hands them the
loaded model of the fleet's version, or of the fleet's canary for the canary's share of
routing keys, and counts them in flight, so a fence waits for answers still being computed
with the old target.

Without `REGWATCH_NATS_URL` none of this exists: models have no seat, and nothing on the
request path looks for one beyond a `None` check.
"""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from regwatch.fleet import Canary, Fleet, FleetConfig, ModelStatus
from regwatch.fleet.gate import Pass
from regwatch.fleet.rules import Target

from .errors import NoModelServing
from .routing import Choice, Role, Split, canary_takes

if TYPE_CHECKING:
    from .fleet_live import FleetLiveModel


class Seat:
    """One model's place in the fleet."""

    def __init__(self, fleet: Fleet, model: str) -> None:
        self.fleet = fleet
        self.model = model
        self.listener: Callable[[ModelStatus], None] | None = None
        self.live: FleetLiveModel | None = None  # the model's live model, which sits here

    def want(self, version: str | None, canary: Canary | None = None) -> None:
        self.fleet.want(self.model, version, canary)

    def set_loaded(self, versions: Iterable[str]) -> None:
        self.fleet.set_loaded(self.model, versions)

    @property
    def target(self) -> Target | None:
        """The fleet's target (committed, or being switched to): its versions stay loaded here."""
        return self.fleet.target(self.model)

    def vacate(self) -> None:
        """The model is no longer served here (its folder went): it stops counting for
        this replica's readiness, and wants nothing."""
        self.listener = None
        self.live = None
        self.want(None)
        self.set_loaded(())

    def status(self) -> ModelStatus | None:
        """The model as the fleet sees it here (None: not reported to the fleet yet)."""
        return next((model for model in self.fleet.status().models if model.model == self.model), None)

    def not_ready(self) -> str | None:
        """Why this replica cannot answer for the model now (None: it can)."""
        status = self.status()
        if status is None:
            return f"model {self.model!r}: not known to the fleet yet"
        return None if status.ready else status.reason

    def canary(self) -> Split | None:
        """The fleet's canary as this replica answers its share now (None: none, or held)."""
        answer = self.fleet.answer(self.model)
        canary = answer.canary if answer is not None else None
        if canary is None or self.live is None:
            return None
        return Split(self.live.answering(canary.version), canary.percent)

    async def enter(self, routing_key: str | None) -> "FleetTicket":
        """The model that answers one request by the fleet's target (FleetNotReady: answer
        503), counted in flight until `leave()`: a fence waits for it before the fleet flips."""
        gate = self.fleet.gate(self.model)
        target = await gate.acquire()
        try:
            if self.live is None:
                raise NoModelServing(f"model {self.model!r} is not served here")
            canary = target.canary
            if canary is not None and canary_takes(canary.percent, routing_key):
                return FleetTicket(Choice(self.live.answering(canary.version), Role.CANARY), gate)
            return FleetTicket(Choice(self.live.answering(target.version), Role.STABLE), gate)
        except BaseException:
            gate.release()
            raise


class FleetTicket:
    """One request's pass through the fleet's gate, with the model that answers it."""

    __slots__ = ("_gate", "choice")

    def __init__(self, choice: Choice, gate: Pass) -> None:
        self.choice = choice
        self._gate = gate

    def leave(self) -> None:
        """The response is built: the fleet may stop answering with this target."""
        self._gate.release()


class Cluster:
    """This process's fleet membership: `fleet.run` runs under the supervisor; each model
    takes a seat; the fleet's per-model status changes go to that model's listener."""

    def __init__(self, config: FleetConfig) -> None:
        self.fleet = Fleet(config, on_change=self._changed)
        self._seats: dict[str, Seat] = {}

    @property
    def replica_id(self) -> str:
        return self.fleet.config.replica_id

    def seat(self, model: str) -> Seat:
        seat = self._seats.get(model)
        if seat is None:
            seat = self._seats[model] = Seat(self.fleet, model)
        return seat

    def _changed(self, status: ModelStatus) -> None:
        seat = self._seats.get(status.model)
        if seat is not None and seat.listener is not None:
            seat.listener(status)
