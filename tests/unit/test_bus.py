"""The event bus: ids, replay, lagging subscribers, thread hand-off."""

import asyncio
import threading

import pytest

from regwatch.events import BusClosed, EventBus, EventType


async def test_ids_increase_and_subscribers_filter_by_type():
    bus = EventBus()
    with bus.subscribe({"version_added"}) as added, bus.subscribe() as everything:
        first = bus.publish("version_added", "1.0.0")
        bus.publish(EventType.VERSION_CHANGED, "1.0.0")
        third = bus.publish("version_added", "1.1.0")
        assert third.id > first.id
        assert [(await added.get()).version for _ in range(2)] == ["1.0.0", "1.1.0"]
        assert everything.pending() == 3
    assert bus.subscriber_count == 0


async def test_replay_since_an_id_returns_exactly_the_missed_public_events():
    bus = EventBus(buffer_size=10)
    first = bus.publish("version_added", "1.0.0")
    bus.publish(EventType.VERSION_CHANGED, "x")  # internal: never replayed
    second = bus.publish("latest_changed", "1.0.0")
    third = bus.publish("model_loaded", "1.0.0")
    assert [e.id for e in bus.since(first.id)] == [second.id, third.id]
    assert bus.since(third.id) == []


async def test_replay_from_an_evicted_or_foreign_id_asks_for_a_reset():
    bus = EventBus(buffer_size=3)
    events = [bus.publish("version_added", str(i)) for i in range(5)]
    assert bus.since(events[0].id) is None  # events[1] is gone from the buffer
    assert [e.version for e in bus.since(events[1].id)] == ["2", "3", "4"]
    assert bus.since(events[-1].id + 100) is None  # from the future: another process
    assert bus.since(5) is None  # from before this process started


async def test_ids_keep_increasing_across_bus_instances():
    old = EventBus().publish("version_added", "1")
    assert EventBus().publish("version_added", "1").id > old.id


async def test_a_lagging_subscriber_is_reset_without_blocking_anyone():
    bus = EventBus(queue_size=4)
    with bus.subscribe() as slow, bus.subscribe(maxsize=100) as fast:
        for i in range(10):
            bus.publish("version_added", str(i))
        assert fast.pending() == 10
        reset = await slow.get()
        assert reset.type == EventType.RESET and slow.lagged >= 1
        # What follows the reset is only what came after the overflow, never the dropped backlog.
        rest = [(await slow.get()).version for _ in range(slow.pending())]
        assert rest == [str(i) for i in range(10 - len(rest), 10)] and len(rest) < 4


async def test_publish_threadsafe_hands_events_to_the_loop():
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    with bus.subscribe() as sub:
        threads = [
            threading.Thread(target=bus.publish_threadsafe, args=("version_added", str(i))) for i in range(20)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = [await asyncio.wait_for(sub.get(), 5) for _ in range(20)]
    assert sorted(int(e.version) for e in got) == list(range(20))
    assert [e.id for e in got] == sorted(e.id for e in got)


def test_publish_threadsafe_needs_a_bound_loop():
    with pytest.raises(RuntimeError):
        EventBus().publish_threadsafe("version_added", "1")


def test_payload_has_type_version_and_utc_timestamp():
    event = EventBus().publish("model_loaded", "1.0.0", load_ms=3.5)
    payload = event.payload()
    assert payload["type"] == "model_loaded" and payload["version"] == "1.0.0"
    assert payload["at"].endswith("Z") and payload["load_ms"] == 3.5


async def test_closing_ends_every_subscription_after_what_is_queued():
    bus = EventBus()
    with bus.subscribe() as sub:
        bus.publish("version_added", "1.0.0")
        bus.close()
        assert [event.version async for event in sub] == ["1.0.0"]
        with pytest.raises(BusClosed):
            await sub.get()
    assert bus.subscriber_count == 0


async def test_after_close_new_subscriptions_end_at_once_and_publishing_still_buffers():
    bus = EventBus()
    before = bus.publish("version_added", "1.0.0")
    bus.close()
    with bus.subscribe() as late:
        assert [event async for event in late] == []
    after = bus.publish("model_loaded", "1.0.0")  # work that finishes during shutdown
    assert [e.id for e in bus.since(before.id)] == [after.id]


async def test_a_full_queue_still_ends_when_the_bus_closes():
    bus = EventBus(queue_size=2)
    with bus.subscribe() as sub:
        bus.publish("version_added", "1")
        bus.publish("version_added", "2")
        bus.close()
        assert [event.version async for event in sub] == ["1", "2"]
