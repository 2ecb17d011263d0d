"""How long and how often each figure is measured: `make bench` (FULL) or `make bench-quick` (QUICK)."""

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Config:
    quick: bool = False
    ceiling_s: float = 2.0
    # interleaved predict rounds (c=16), and the same for c=64 and c=1
    rounds: int = 4
    round_s: float = 5.0
    warmup_s: float = 1.0
    c64_rounds: int = 2
    c1_rounds: int = 2
    naive: bool = True
    mlserver: bool = True
    mlserver_sweep_rounds: int = 2
    mlserver_sweep_s: float = 2.5
    swapcost_rounds: int = 4
    swapcost_s: float = 5.0
    swaps_s: float = 30.0
    gateway_rounds: int = 3
    drop_trials: int = 50  # per variant (with and without sha256)
    poll_trials: int = 50
    sse_subscribers: int = 1000
    sse_publishes: int = 5
    scale_ns: tuple[int, ...] = (100, 1000, 10000)
    scale_trials: int = 40
    scale_e2e_trials: int = 8
    models_requests: int = 20
    memory_swaps: int = 300
    format_calls: int = 2000  # predict calls per timing of one format (bench/scenarios/formats.py)
    fleet_trials: int = 30  # renames into the fleet's registry (and as many into the one alone)
    shadow_rounds: int = 6  # interleaved rounds with and without a shadow, per concurrency
    shadow_round_s: float = 1.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Config()
QUICK = replace(
    FULL,
    quick=True,
    ceiling_s=1.0,
    rounds=2,
    round_s=2.0,
    warmup_s=0.5,
    naive=False,
    mlserver=False,
    mlserver_sweep_rounds=1,
    mlserver_sweep_s=2.0,
    swapcost_rounds=2,
    swapcost_s=2.0,
    swaps_s=8.0,
    gateway_rounds=2,
    drop_trials=10,
    poll_trials=4,
    sse_publishes=2,
    scale_ns=(100, 1000),
    scale_trials=20,
    format_calls=300,
    scale_e2e_trials=4,
    models_requests=10,
    memory_swaps=20,
    fleet_trials=8,
    shadow_rounds=4,
    shadow_round_s=1.0,
)
