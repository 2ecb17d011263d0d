"""Several replicas in one process, each with its own connection to a real nats-server."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import nats
import pytest
from nats.js.errors import BadRequestError
from support.nats import NatsServer

from regwatch.fleet import EventsLost, Fleet, FleetConfig, FleetNotReady, ModelStatus

FAST = {"heartbeat_interval": 0.2, "member_ttl": 1.0}


class Changes:
    """The `on_change` of several fleets: wait, woken by changes, until a condition holds."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self, status: ModelStatus) -> None:
        self.event.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.event.clear()
                await self.event.wait()


@asynccontextmanager
async def fleets(url: str, count: int, changes: Changes, **settings: float) -> AsyncIterator[list[Fleet]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                Fleet(FleetConfig(url=url, replica_id=f"r{i}", **{**FAST, **settings}), on_change=changes)
            )
            for i in range(count)
        ]


def prepare(fleet: Fleet, version: str, *loaded: str) -> None:
    fleet.want("default", version)
    fleet.set_loaded("default", {version, *loaded})


async def answer(fleet: Fleet) -> str:
    async with fleet.gate("default") as target:
        return target.version


async def pointer_history(url: str) -> list[tuple[str, str]]:
    """Every value `active.default` had: (phase, version)."""
    nc = await nats.connect(url)
    try:
        kv = await nc.jetstream().key_value("regwatch-default-active")
        values = [json.loads(entry.value or b"") for entry in await kv.history("active.default")]
    finally:
        await nc.close()
    return [(value["phase"], value["version"]) for value in values]


async def test_replicas_racing_the_compare_and_set_flip_exactly_once(nats_server: NatsServer) -> None:
    changes = Changes()
    async with fleets(nats_server.url, 5, changes) as replicas:
        for fleet in replicas:
            prepare(fleet, "1.0.0")
        await changes.until(lambda: all(fleet.status().models[0].answer == "1.0.0" for fleet in replicas))
        for fleet in replicas:  # all ready at once: every replica races to write the pointer
            prepare(fleet, "2.0.0", "1.0.0")
        await changes.until(lambda: all(fleet.status().models[0].answer == "2.0.0" for fleet in replicas))
        assert [await answer(fleet) for fleet in replicas] == ["2.0.0"] * 5

    # One bootstrap, one fence, one commit: every other attempt lost its compare-and-set.
    assert await pointer_history(nats_server.url) == [
        ("active", "1.0.0"),
        ("fencing", "2.0.0"),
        ("active", "2.0.0"),
    ]


async def test_events_resume_on_another_replica_from_its_sequence(nats_server: NatsServer) -> None:
    changes = Changes()
    async with fleets(nats_server.url, 2, changes) as (a, b):
        await a.joined()
        await b.joined()
        first = await a.events.publish({"type": "version_added", "version": "1.0.0"})
        second = await a.events.publish({"type": "latest_changed", "version": "1.0.0"})
        # Every replica sees the same folder appear: one event for all of them.
        third = await a.events.publish({"type": "version_added", "version": "2.0.0"}, dedup_key="added:2.0.0")
        again = await b.events.publish({"type": "version_added", "version": "2.0.0"}, dedup_key="added:2.0.0")
        assert second == first + 1 and third == second + 1 and again == third

        received: list[tuple[int, dict]] = []
        async for sequence, payload in b.events.subscribe(after=first):  # an id issued via `a`
            received.append((sequence, payload))
            if sequence == third:
                break
        assert received == [
            (second, {"type": "latest_changed", "version": "1.0.0"}),
            (third, {"type": "version_added", "version": "2.0.0"}),
        ]
        with pytest.raises(EventsLost):
            async for _ in b.events.subscribe(after=third + 10):  # never issued
                pass


async def test_events_expired_from_the_stream_raise_events_lost(nats_server: NatsServer) -> None:
    async with Fleet(FleetConfig(url=nats_server.url, replica_id="r0", events_max_msgs=2, **FAST)) as fleet:
        await fleet.joined()
        sequences = [await fleet.events.publish({"n": n}) for n in range(4)]
        with pytest.raises(EventsLost) as lost:
            async for _ in fleet.events.subscribe(after=sequences[0]):
                pass
        assert (lost.value.first, lost.value.last) == (sequences[2], sequences[3])


async def test_garbage_in_the_members_bucket_is_ignored(nats_server: NatsServer) -> None:
    changes = Changes()
    async with fleets(nats_server.url, 2, changes) as replicas:
        for fleet in replicas:
            prepare(fleet, "1.0.0")
        await changes.until(lambda: all(fleet.ready for fleet in replicas))
        nc = await nats.connect(nats_server.url)
        kv = await nc.jetstream().key_value("regwatch-default-members")
        await kv.put("evil", b"\x00not json")
        await kv.put("r9", b'{"replica": "r0", "incarnation": "x", "at": "now", "models": {}}')  # lies
        with pytest.raises(BadRequestError, match="size exceeds"):  # the bucket's own limit
            await kv.put("big", b"{" + b" " * 70_000 + b"}")
        await nc.close()
        for fleet in replicas:
            prepare(fleet, "2.0.0", "1.0.0")
        await changes.until(lambda: all(fleet.status().models[0].answer == "2.0.0" for fleet in replicas))
        assert set(replicas[0].members()) == {"r0", "r1"}
        assert replicas[0].counters.bad_records >= 2


async def test_a_replica_started_while_nats_is_down_waits_then_joins(tmp_path) -> None:
    server = NatsServer(tmp_path / "nats").start()
    url = server.url
    server.stop()
    changes = Changes()
    try:
        async with Fleet(FleetConfig(url=url, replica_id="r0", reconnect_wait=0.1, **FAST), changes) as fleet:
            prepare(fleet, "1.0.0")
            assert not fleet.connected and not fleet.ready
            with pytest.raises(FleetNotReady, match="no active version"):
                await answer(fleet)
            server.start()  # same port, same store
            await changes.until(lambda: fleet.ready and fleet.status().models[0].answer == "1.0.0")
            assert fleet.connected and await answer(fleet) == "1.0.0"
    finally:
        server.stop()
