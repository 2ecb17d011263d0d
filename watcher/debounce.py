"""One per-key timer: run a callback once a key has been quiet for a while."""

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Debouncer(Generic[K]):
    """`touch(key)` (re)starts a key's timer; `callback(key)` runs when it expires.

    Lives on the event loop: call `touch` from the loop's thread (the watcher hands events
    over with `call_soon_threadsafe`). A copy that writes a file in a hundred chunks
    becomes a single call, `delay` seconds after the last chunk. A caller may give a
    key its own delay (the sync rechecks a settling folder when its quiet window ends).
    """

    def __init__(self, delay: float, callback: Callable[[K], object]) -> None:
        self._delay = delay
        self._callback = callback
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def touch(self, key: K, delay: float | None = None) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        wait = self._delay if delay is None else delay
        self._timers[key] = asyncio.get_running_loop().call_later(wait, self._fire, key)

    def _fire(self, key: K) -> None:
        del self._timers[key]
        self._callback(key)

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
