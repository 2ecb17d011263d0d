"""`Due`: "something changed, write soon", for the loops that write on change or on a timer.

anyio's `Event` cannot be cleared, and the heartbeat and decision loops each want the same
thing of one: wake when set or when time is up, then re-arm before writing, so a change
made during the write wakes the next round.
"""

import anyio


class Due:
    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Return once set (at once if it is) or after `seconds`; then re-arm."""
        with anyio.move_on_after(seconds):
            await self._event.wait()
        self._event = anyio.Event()
