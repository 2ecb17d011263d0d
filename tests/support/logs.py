"""Log lines of the process under test, waited for without polling."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self._new = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._new:
            self.messages.append(record.getMessage())
            self._new.notify_all()

    async def wait_for(self, text: str, timeout: float = 15.0) -> str:
        """The first message containing `text` (already logged ones count)."""

        def wait() -> str | None:
            with self._new:
                return self._new.wait_for(
                    lambda: next((m for m in self.messages if text in m), None), timeout
                )

        found = await anyio.to_thread.run_sync(wait)
        if found is None:
            raise TimeoutError(f"no log line with {text!r}: {self.messages}")
        return found


@contextmanager
def log_lines(name: str) -> Iterator[LogLines]:
    """Collect what logger `name` logs at INFO and above while the block runs."""
    lines = LogLines()
    logger = logging.getLogger(name)
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
