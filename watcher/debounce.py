"""Coalesce bursts of events per key into one call, once the key has been quiet a while."""

import asyncio
from collections.abc import Callable


class Debouncer:
    """`touch(key)` (re)starts a quiet-period timer; `callback(key)` runs when it expires.

    Lives on the event loop: call `touch` from the loop's thread (the watcher hands events
    over with `call_soon_threadsafe`). A copy that writes a file in a hundred chunks
    becomes a single call, `delay` seconds after the last chunk.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[str], None]
    ) -> None:
        self._loop = loop
        self._delay = delay
        self._callback = callback
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def touch(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._timers[key] = self._loop.call_later(self._delay, self._fire, key)

    def touch_threadsafe(self, key: str) -> None:
        self._loop.call_soon_threadsafe(self.touch, key)

    def _fire(self, key: str) -> None:
        del self._timers[key]
        self._callback(key)

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
