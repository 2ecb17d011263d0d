"""The scenarios, in the order a run measures them. Each is a coroutine taking the shared
`Bench`; `needs` names the shared servers it measures against, which the driver starts
before the first scenario that needs them and stops after the last one."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.context import MAIN, PEERS, Bench
from bench.scenarios import (
    ceiling,
    drop,
    fleet,
    formats,
    gateway,
    latency,
    memory,
    models,
    protocol,
    scale,
    shadow,
    sse,
    swap_cost,
    swaps_under_load,
    throughput,
)


@dataclass(frozen=True)
class Scenario:
    key: str  # what `run.py --only` takes
    name: str
    run: Callable[[Bench], Awaitable[None]]
    needs: frozenset[str] = frozenset()


SCENARIOS = (
    Scenario("ceiling", "loadgen ceiling", ceiling.run),
    Scenario("c16", "predict throughput c=16", throughput.c16, frozenset({MAIN, PEERS})),
    Scenario("c64", "predict throughput c=64", throughput.c64, frozenset({MAIN, PEERS})),
    Scenario("c1", "predict latency c=1", latency.run, frozenset({MAIN, PEERS})),
    Scenario("v2", "open inference protocol cost", protocol.run, frozenset({MAIN})),
    Scenario("swap-cost", "swap cost", swap_cost.run, frozenset({MAIN})),
    Scenario("gateway", "gateway", gateway.run, frozenset({MAIN})),
    Scenario("drop", "drop-to-serve inotify", drop.inotify, frozenset({MAIN})),
    Scenario("swaps", "swaps under load", swaps_under_load.run, frozenset({MAIN})),
    Scenario("sse", "sse fan-out", sse.run, frozenset({MAIN})),
    Scenario("poll", "drop-to-serve poll", drop.poll),
    Scenario("scale", "scale", scale.run),
    Scenario("memory", "memory", memory.run),
    Scenario("models", "many models", models.run),
    Scenario("formats", "predict cost per model format", formats.run),
    Scenario("fleet", "cluster mode", fleet.run),
    Scenario("shadow", "predict with and without a shadow", shadow.run),
)
