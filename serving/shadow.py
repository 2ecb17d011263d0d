"""Shadow traffic: default requests are also predicted by the shadow version, off the
response path, and its answers compared with what stable answered.

A request hands its rows and stable's answer to `offer` once its own answer is built: one
`put_nowait` on a bounded queue (full: the rows are dropped and counted). `run` takes what
is queued after a short linger and hands it to the shared `Batcher` at once, which merges
it into as few `predict` calls as it makes for any requests (on the loop in small batches,
interleaved with requests), then compares row by row: the share of equal predictions, and
for numeric (regression) answers the mean absolute difference. A shadow that raises, or
answers the wrong number of rows, is counted as failed; nothing it does reaches a caller.

Counts are in instances (rows). `compared`, `dropped` and `failed` only grow, for the life
of the process; the agreement is over the rows compared with the current shadow version,
and starts again when another version (or other files) becomes the shadow.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt

from .batching import Batcher
from .live import LiveModel
from .loading import LoadedModel

log = logging.getLogger("regwatch.shadow")

Rows = npt.NDArray[Any]
# Nobody waits for a shadow's answer: offers that arrive within this many seconds share one
# pass through the batcher, so a shadow costs each request a sliver of a predict call.
LINGER = 0.01


@dataclass
class Agreement:
    """How one shadow (a version's files) compares with stable so far."""

    version: str
    fingerprint: tuple[int, ...]
    compared: int = 0
    equal: int = 0
    numeric: int = 0  # rows where both answers are numbers (regressors)
    abs_diff: float = 0.0

    def about(self, shadow: LoadedModel) -> bool:
        return (self.version, self.fingerprint) == (shadow.version, shadow.fingerprint)

    @property
    def share(self) -> float | None:
        return self.equal / self.compared if self.compared else None

    @property
    def mean_abs_diff(self) -> float | None:
        return self.abs_diff / self.numeric if self.numeric else None

    def view(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "compared": self.compared,
            "agreement": self.share,
            "mean_abs_diff": self.mean_abs_diff,
        }


class Shadow:
    def __init__(
        self,
        live: LiveModel,
        batcher: Batcher,
        *,
        queue_size: int = 1024,
        max_rows: int = 1024,
        linger: float = LINGER,
        predicted: Callable[[str, int], None] = lambda version, rows: None,
    ) -> None:
        self.live = live
        self._batcher = batcher
        self._max_rows = max_rows
        self._linger = linger
        self._predicted = predicted
        self._queue: asyncio.Queue[tuple[LoadedModel, Rows, Rows]] = asyncio.Queue(queue_size)
        self.compared = 0
        self.dropped = 0
        self.failed = 0
        self.agreement: Agreement | None = None

    @property
    def current(self) -> Agreement | None:
        """The agreement so far of the loaded shadow (None: no shadow, or not loaded yet)."""
        shadow, agreement = self.live.shadow, self.agreement
        if shadow is None or agreement is None or not agreement.about(shadow):
            return None
        return agreement

    def view(self) -> dict[str, Any] | None:
        """The comparison as `GET /models` shows it; None while no shadow is named."""
        named = self.live.release.shadow
        if named is None:
            return None
        current = self.current or Agreement(named, ())
        return {**current.view(), "dropped": self.dropped, "failed": self.failed}

    def offer(self, rows: Rows, answers: Rows) -> None:
        """Stable answered `rows` with `answers`: have the shadow (if one is loaded) predict
        them too, later. Never raises, never waits."""
        shadow = self.live.shadow
        if shadow is None:
            return
        try:
            self._queue.put_nowait((shadow, rows, answers))
        except asyncio.QueueFull:
            self.dropped += len(rows)

    async def run(self) -> None:
        """Predict and compare what is offered, until cancelled."""
        while True:
            batch = [await self._queue.get()]
            await anyio.sleep(self._linger)  # let more arrive: one merged call for all of them
            rows = len(batch[0][1])
            while rows < self._max_rows and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                rows += len(batch[-1][1])
            await self._compare(batch)
            for _ in batch:
                self._queue.task_done()

    async def drained(self) -> None:
        """Return once everything offered so far is compared (or failed)."""
        await self._queue.join()

    async def _compare(self, batch: list[tuple[LoadedModel, Rows, Rows]]) -> None:
        """Each request's rows through the batcher at once: merged into as few calls as it
        makes (a request whose rows the shadow rejects fails alone), then compared."""
        answers = await asyncio.gather(
            *(self._batcher.predict(shadow, rows) for shadow, rows, _ in batch), return_exceptions=True
        )
        for (shadow, rows, stable), answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException) or len(answer) != len(rows):
                self.failed += len(rows)  # model code: counted, never raised
                log.debug("shadow %s failed on %d rows: %s", shadow.version, len(rows), answer)
                continue
            self._predicted(shadow.version, len(rows))
            self._tally(shadow, stable, np.asarray(answer))

    def _tally(self, shadow: LoadedModel, stable: Rows, answers: Rows) -> None:
        agreement = self.agreement
        if agreement is None or not agreement.about(shadow):
            agreement = self.agreement = Agreement(shadow.version, shadow.fingerprint)
        count = len(stable)
        agreement.compared += count
        agreement.equal += int(_equal_rows(stable, answers).sum())
        if stable.dtype.kind == "f" and answers.dtype.kind in "fiu" and stable.shape == answers.shape:
            agreement.numeric += count
            agreement.abs_diff += float(np.abs(stable - answers).reshape(count, -1).mean(axis=1).sum())
        self.compared += count


def _equal_rows(stable: Rows, answers: Rows) -> npt.NDArray[np.bool_]:
    """Per row: did both answer the same (every output, for multi-output models)?"""
    count = len(stable)
    if stable.shape != answers.shape:
        return np.zeros(count, dtype=bool)
    try:
        equal = np.asarray(stable == answers)
    except (TypeError, ValueError):  # labels of types that do not compare (str against int)
        return np.zeros(count, dtype=bool)
    if equal.shape != stable.shape:
        return np.zeros(count, dtype=bool)
    return np.asarray(equal.reshape(count, -1).all(axis=1), dtype=bool)
