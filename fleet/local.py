"""What this replica knows and wants, per model: its gates, desires, acks and view of members.

Loop-local and free of I/O: the session feeds it what the buckets say and asks it what to
heartbeat; the coordinator feeds it what the service reports and asks it which
compare-and-sets to attempt.
"""

import logging
import time
from collections.abc import Callable

from .config import FleetConfig
from .gate import ModelGate
from .records import MemberRecord, ModelReport
from .rules import Active, Step, Target, next_step
from .status import ModelStatus

log = logging.getLogger("regwatch.fleet")


class LocalState:
    def __init__(self, config: FleetConfig, on_change: Callable[[ModelStatus], None] | None) -> None:
        self.config = config
        self.gates: dict[str, ModelGate] = {}
        self.desired: dict[str, Target | None] = {}
        self.acked: dict[str, int] = {}  # model -> revision of the fence acknowledged
        self.members: dict[str, MemberRecord] = {}  # live replicas, as the members stream says
        self.current = True  # see ModelGate.current
        self._preparing: dict[str, tuple[Target, float]] = {}  # model -> (target wanted, since)
        self._on_change = on_change

    def gate_for(self, model: str) -> ModelGate:
        gate = self.gates.get(model)
        if gate is None:
            gate = self.gates[model] = ModelGate(model, self.config.hold_timeout)
            gate.update(None, frozenset(), self.current)
        return gate

    def apply(self, gate: ModelGate, active: Active | None, loaded: frozenset[str]) -> None:
        """Update a gate; tell the service when what it shows changed."""
        before = (gate.active, gate.loaded, gate.answer)
        gate.update(active, loaded, self.current)
        if (gate.active, gate.loaded, gate.answer) != before and self._on_change is not None:
            try:
                self._on_change(self.model_status(gate))
            except Exception:
                log.exception("fleet on_change callback failed")

    def set_current(self, current: bool) -> None:
        self.current = current
        for gate in list(self.gates.values()):
            self.apply(gate, gate.active, gate.loaded)

    @property
    def ready(self) -> bool:
        """Readiness counts the models this replica wants or has (not ones it never had)."""
        counted = [gate for model, gate in self.gates.items() if self.desired.get(model) or gate.loaded]
        return bool(counted) and all(gate.ready for gate in counted)

    def record(self, incarnation: str, at: str) -> MemberRecord:
        """This replica's heartbeat."""
        return MemberRecord(
            replica=self.config.replica_id,
            incarnation=incarnation,
            at=at,
            models={
                model: ModelReport(
                    desired=desired.version if (desired := self.desired.get(model)) else None,
                    canary=desired.canary if desired else None,
                    loaded=gate.loaded,
                    serving=gate.answer.version if gate.answer else None,
                    ready=gate.ready,
                    fenced=self.acked.get(model, 0),
                )
                for model, gate in self.gates.items()
            },
        )

    def steps(self) -> list[Step]:
        """The pointer writes to attempt now, one model at a time."""
        found = []
        for model, gate in self.gates.items():
            desired, late = self.desired.get(model), self._overdue(model, gate)
            step = next_step(model, gate.active, desired, self.config.replica_id, self.members, late)
            if step is not None:
                found.append(step)
        return found

    def _overdue(self, model: str, gate: ModelGate) -> bool:
        """Has this replica wanted a target other than the fleet's for the prepare deadline?"""
        desired = self.desired.get(model)
        if desired is None or (gate.active is not None and gate.active.target == desired):
            self._preparing.pop(model, None)
            return False
        now = time.monotonic()
        target, since = self._preparing.get(model, (None, now))
        if target != desired:
            self._preparing[model] = (desired, now)
            since = now
        return now - since >= self.config.prepare_deadline

    def next_deadline(self, now: float) -> float:
        """When a prepare deadline runs out (at most a heartbeat interval from now)."""
        ends = [since + self.config.prepare_deadline for _, since in self._preparing.values()]
        return min([now + self.config.heartbeat_interval, *ends])

    def model_status(self, gate: ModelGate) -> ModelStatus:
        active = gate.active
        return ModelStatus(
            model=gate.model,
            active=active.version if active else None,
            canary=active.target.canary if active else None,
            phase=active.phase if active else None,
            answer=gate.answer.version if gate.answer else None,
            answer_canary=gate.answer.canary if gate.answer else None,
            ready=gate.ready,
            reason=None if gate.ready else gate.reason(),
        )
