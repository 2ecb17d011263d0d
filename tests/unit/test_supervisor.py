"""The supervisor: restart with backoff, give up after repeated failures, report every one."""

import logging

import anyio
import pytest

from regwatch.events import EventBus, EventType
from regwatch.serving import RestartPolicy, Supervisor, TaskFailed, TaskState

FAST = RestartPolicy(backoff=0.001, max_backoff=0.01, max_failures=3, window=60)


def test_backoff_doubles_up_to_the_cap():
    policy = RestartPolicy(backoff=0.5, max_backoff=4)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]


async def test_a_failing_task_is_logged_published_and_restarted(caplog):
    bus = EventBus()
    runs = 0
    recovered = anyio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ValueError("first run breaks")
        recovered.set()
        await anyio.sleep_forever()

    with bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("flaky", flaky)
            event = await failures.get()
            await recovered.wait()
            assert supervisor.tasks["flaky"].state is TaskState.RUNNING
            supervisor.stop()
    assert event.data["task"] == "flaky" and event.data["error"] == "ValueError: first run breaks"
    assert event.data["gave_up"] is False and event.data["restart_in"] > 0
    health = supervisor.tasks["flaky"]
    assert (health.failures, health.last_error, supervisor.failed()) == (
        1,
        "ValueError: first run breaks",
        [],
    )
    [record] = [r for r in caplog.records if r.name == "regwatch.supervisor"]
    assert record.levelno == logging.ERROR and record.exc_info is not None  # the traceback is logged


async def test_a_task_that_keeps_failing_is_given_up_on():
    bus = EventBus()
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise OSError(f"disk gone ({runs})")

    with bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("broken", broken)
            events = [await failures.get() for _ in range(3)]
            await anyio.wait_all_tasks_blocked()
    assert runs == 3  # never restarted after giving up (the task group ended on its own)
    assert [e.data["gave_up"] for e in events] == [False, False, True]
    assert events[-1].data["restart_in"] is None and events[-1].data["failures"] == 3
    [failed] = supervisor.failed()
    assert failed.name == "broken" and failed.state is TaskState.FAILED
    assert failed.last_error == "OSError: disk gone (3)"


async def test_failures_outside_the_window_do_not_add_up():
    bus = EventBus()
    policy = RestartPolicy(backoff=0.001, max_backoff=0.01, max_failures=2, window=0.000_001)
    runs = 0
    done = anyio.Event()

    async def fails_five_times() -> None:
        nonlocal runs
        runs += 1
        if runs <= 5:
            raise RuntimeError("again")
        done.set()
        await anyio.sleep_forever()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, policy)
            supervisor.start("slowly-failing", fails_five_times)
            await done.wait()
            supervisor.stop()
    assert supervisor.tasks["slowly-failing"].failures == 5 and supervisor.failed() == []


async def test_a_task_that_returns_counts_as_a_failure():
    bus = EventBus()

    async def returns() -> None:
        return None

    with bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("quitter", returns)
            event = await failures.get()
            supervisor.stop()
    assert "returned" in event.data["error"]


async def test_stop_ends_tasks_quietly_even_when_they_end_on_a_closed_bus(caplog):
    bus = EventBus()

    async def follows_the_bus() -> None:
        with bus.subscribe() as events:
            async for _ in events:
                pass

    with bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("follower", follows_the_bus)
            supervisor.start("sleeper", anyio.sleep_forever)
            await anyio.wait_all_tasks_blocked()
            supervisor.stop()
            bus.close()
    assert failures.pending() == 1  # only the end marker: no task_failed
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert supervisor.failed() == []


async def test_started_waits_for_ready_or_fails_when_the_task_is_given_up():
    bus = EventBus()
    ready = anyio.Event()

    async def becomes_ready() -> None:
        ready.set()
        await anyio.sleep_forever()

    async def never_ready() -> None:
        raise FileExistsError("versions is a file")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("good", becomes_ready)
            await supervisor.started("good", ready)
            supervisor.start("bad", never_ready)
            with pytest.raises(TaskFailed, match="bad failed before it was ready: FileExistsError"):
                await supervisor.started("bad", anyio.Event())
            supervisor.stop()


async def test_the_cause_is_named_through_a_task_group_wrapper():
    bus = EventBus()

    async def nested() -> None:
        async with anyio.create_task_group() as inner:
            inner.start_soon(anyio.sleep_forever)
            raise KeyError("the real cause")

    with bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            supervisor = Supervisor(tg, bus, FAST)
            supervisor.start("nested", nested)
            event = await failures.get()
            supervisor.stop()
    assert event.data["error"] == "KeyError: 'the real cause'"
