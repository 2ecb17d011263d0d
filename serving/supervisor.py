"""Supervision of the service's background tasks: restart on failure, never fail silently.

Every long-lived task (watcher, sync, live model, metrics follower, keep-alive) runs under
`Supervisor.start`. When one raises, the exception is logged with its traceback, counted,
published as `task_failed`, and the task is started again after an exponential backoff
(capped). A task that fails `max_failures` times within `window` seconds is given up on: it
stays down and `failed()` names it, so `/healthz` answers 503 and an orchestrator restarts
the process. A task that returns on its own counts as a failure too: each one is meant to
run until the service stops. Stopping the supervisor (the service is shutting down) ends
the tasks without reporting anything.
"""

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import anyio
from anyio.abc import TaskGroup

from regwatch.events import EventBus, EventType

log = logging.getLogger("regwatch.supervisor")


class Flag(Protocol):
    """A readiness signal: `asyncio.Event` or `anyio.Event`."""

    def is_set(self) -> bool: ...

    def wait(self) -> Awaitable[object]: ...


class TaskFailed(RuntimeError):
    """A supervised task was given up on before it became ready."""


class TaskState(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    FAILED = "failed"


@dataclass(frozen=True)
class RestartPolicy:
    backoff: float = 0.5  # seconds before the first restart; doubles per failure in a row
    max_backoff: float = 30.0
    max_failures: int = 5  # this many failures within `window` seconds: give up
    window: float = 300.0

    def delay(self, in_a_row: int) -> float:
        return float(min(self.backoff * 2 ** (in_a_row - 1), self.max_backoff))


@dataclass
class TaskHealth:
    """What /healthz and /metrics report about one task."""

    name: str
    state: TaskState = TaskState.RUNNING
    failures: int = 0
    last_error: str | None = None
    failure_times: deque[float] = field(default_factory=deque, repr=False)  # within the window


class Supervisor:
    """Runs tasks in the caller's task group; `stop()` ends them (only them) at once."""

    def __init__(self, task_group: TaskGroup, bus: EventBus, policy: RestartPolicy | None = None) -> None:
        self._task_group = task_group
        self._bus = bus
        self.policy = policy or RestartPolicy()
        self._tasks: dict[str, TaskHealth] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._waiting: dict[str, list[anyio.CancelScope]] = {}
        self.stopping = False

    @property
    def tasks(self) -> Mapping[str, TaskHealth]:
        return self._tasks

    def failed(self) -> list[TaskHealth]:
        return [health for health in self._tasks.values() if health.state is TaskState.FAILED]

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        health = self._tasks[name] = TaskHealth(name)
        scope = anyio.CancelScope()  # made here, so a stop() before the task runs still ends it
        self._scopes[name] = scope
        self._task_group.start_soon(self._supervise, health, run, scope, name=f"supervised {name}")

    def stop(self) -> None:
        """End every supervised task; nothing is restarted or reported from now on."""
        self.stopping = True
        for scope in self._scopes.values():
            scope.cancel()

    def cancel(self, name: str) -> None:
        """End one task for good (its model went away): not a failure, not restarted."""
        scope = self._scopes.pop(name, None)
        if scope is not None:
            scope.cancel()
        self._tasks.pop(name, None)

    async def started(self, name: str, ready: Flag) -> None:
        """Wait for a task's own readiness signal; raise `TaskFailed` if the task is given
        up on first, so start-up fails loudly instead of hanging."""
        waiters = self._waiting.setdefault(name, [])
        with anyio.CancelScope() as waiting:
            waiters.append(waiting)
            try:
                if self._tasks[name].state is not TaskState.FAILED:
                    await ready.wait()
            finally:
                waiters.remove(waiting)
        if not ready.is_set():
            raise TaskFailed(f"task {name} failed before it was ready: {self._tasks[name].last_error}")

    async def _supervise(
        self, health: TaskHealth, run: Callable[[], Awaitable[None]], scope: anyio.CancelScope
    ) -> None:
        in_a_row = 0
        with scope:
            while True:
                began = time.monotonic()
                error: Exception | None = None
                try:
                    await run()
                except Exception as exc:  # cancellation is a BaseException and passes through
                    error = exc
                if self.stopping:
                    if error is not None:
                        log.warning("task %s raised while stopping", health.name, exc_info=error)
                    return
                if error is None:
                    error = RuntimeError("returned; it should run until the service stops")
                # A task that ran for longer than the longest backoff was healthy: start over.
                in_a_row = 1 if time.monotonic() - began >= self.policy.max_backoff else in_a_row + 1
                delay = self.policy.delay(in_a_row)
                if self._report(health, error, delay):
                    return
                await anyio.sleep(delay)
                health.state = TaskState.RUNNING

    def _report(self, health: TaskHealth, error: Exception, delay: float) -> bool:
        """Log, count and publish one failure; True when the task is given up on."""
        now = time.monotonic()
        recent = health.failure_times
        recent.append(now)
        while recent and recent[0] < now - self.policy.window:
            recent.popleft()
        gave_up = len(recent) >= self.policy.max_failures
        health.failures += 1
        health.last_error = describe(error)
        health.state = TaskState.FAILED if gave_up else TaskState.RESTARTING
        outcome = "giving up: /healthz fails from now on" if gave_up else f"restarting in {delay:.2f}s"
        log.error(
            "task %s failed (%d in the last %gs): %s; %s",
            health.name,
            len(recent),
            self.policy.window,
            health.last_error,
            outcome,
            exc_info=error,
        )
        self._bus.publish(
            EventType.TASK_FAILED,
            task=health.name,
            error=health.last_error,
            failures=health.failures,
            gave_up=gave_up,
            restart_in=None if gave_up else round(delay, 3),
        )
        if gave_up:
            for waiting in self._waiting.get(health.name, []):
                waiting.cancel()
        return gave_up


def describe(error: BaseException) -> str:
    """`Type: message`, looking through task-group wrappers around a single exception
    (a task with its own task group raises an ExceptionGroup), so /healthz names the cause."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"
