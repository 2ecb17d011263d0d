"""The scenarios, in the order a run measures them. Each is a coroutine taking the shared
`Bench`; `needs` names the shared servers it measures against, which the driver starts
before the first scenario that needs them and stops after the last one."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.context import MAIN, PEERS, Bench
from bench.scenarios import (
    ceiling,
    drop,
    gateway,
    latency,
    memory,
    scale,
    sse,
    swap_cost,
    swaps_under_load,
    throughput,
)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Bench], Awaitable[None]]
    needs: frozenset[str] = frozenset()


SCENARIOS = (
    Scenario("loadgen ceiling", ceiling.run),
    Scenario("predict throughput c=16", throughput.c16, frozenset({MAIN, PEERS})),
    Scenario("predict throughput c=64", throughput.c64, frozenset({MAIN, PEERS})),
    Scenario("predict latency c=1", latency.run, frozenset({MAIN, PEERS})),
    Scenario("swap cost", swap_cost.run, frozenset({MAIN})),
    Scenario("gateway", gateway.run, frozenset({MAIN})),
    Scenario("drop-to-serve inotify", drop.inotify, frozenset({MAIN})),
    Scenario("swaps under load", swaps_under_load.run, frozenset({MAIN})),
    Scenario("sse fan-out", sse.run, frozenset({MAIN})),
    Scenario("drop-to-serve poll", drop.poll),
    Scenario("scale", scale.run),
    Scenario("memory", memory.run),
)
