"""Adaptive batching: concurrent predicts for one loaded model become one `predict` call.

Why: a scikit-learn `predict` costs about the same for 1 row as for 64 (input validation
dominates), so a server that predicts request by request is capped by that fixed cost.

How: the first request that finds a model idle schedules a flush with `call_soon`, so every
request parsed in the same event-loop iteration joins its batch and a request that arrives
alone is predicted in the next iteration, with no timer. While a batch predicts (inline,
the loop is blocked; or in a worker thread, for batches over `inline_rows`) new requests
queue up and form the next batch. `max_wait` (default 0) optionally holds a batch open to
collect more rows; a batch that reaches `max_rows` goes at once either way.

Batches are per `LoadedModel` object and method (`predict`, `predict_proba`), so versions
never mix and a swap only changes which queue new requests join. A batch whose call raises is
re-run request by request, so a request the model rejects fails alone. Merging assumes each
row's answer does not depend on the other rows in the call, which holds for scikit-learn
estimators.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .loading import LoadedModel

log = logging.getLogger("regwatch.batching")

Rows = npt.NDArray[Any]


class _Request:
    __slots__ = ("answer", "arrived", "rows")

    def __init__(self, rows: Rows, answer: "asyncio.Future[Rows]", arrived: float) -> None:
        self.rows = rows
        self.answer = answer
        self.arrived = arrived


class _Lane:
    """The requests waiting for one loaded model, and the flush or predict on their way."""

    __slots__ = ("busy", "flush", "key", "loaded", "method", "rows", "timed", "waiting")

    def __init__(self, key: tuple[int, str], loaded: LoadedModel, method: str) -> None:
        self.key = key
        self.loaded = loaded
        self.method = method
        self.waiting: deque[_Request] = deque()
        self.rows = 0
        self.flush: asyncio.Handle | None = None
        self.timed = False  # the scheduled flush waits for `max_wait`
        self.busy = False  # a batch predicts in a worker thread


class Batcher:
    """Merges the rows of concurrent `predict` calls per loaded model and splits the answers."""

    def __init__(
        self,
        *,
        max_rows: int,
        max_wait: float = 0.0,
        inline_rows: int = 64,
        observe: Callable[[int], None] | None = None,
    ) -> None:
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.inline_rows = inline_rows
        self._observe = observe
        # Keyed by identity and method: a lane exists only while it has work, so a
        # swapped-out model is released as soon as its last batch is answered.
        self._lanes: dict[tuple[int, str], _Lane] = {}

    async def predict(self, loaded: LoadedModel, rows: Rows, method: str = "predict") -> Rows:
        """`loaded.model.<method>(rows)` (`predict` or another row-wise method such as
        `predict_proba`), merged with whatever else is waiting for the same. Raises what
        calling it on `rows` alone raises."""
        loop = asyncio.get_running_loop()
        key = (id(loaded), method)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, loaded, method)
        request = _Request(rows, loop.create_future(), loop.time())
        lane.waiting.append(request)
        lane.rows += len(rows)
        self._schedule(loop, lane)
        return await request.answer

    def _schedule(self, loop: asyncio.AbstractEventLoop, lane: _Lane) -> None:
        if lane.busy or not lane.waiting:
            return  # a running batch schedules the next one when it ends
        if self.max_wait and lane.rows < self.max_rows:
            if lane.flush is None:
                due = lane.waiting[0].arrived + self.max_wait
                lane.flush, lane.timed = loop.call_at(due, self._flush, lane), True
            return
        if lane.flush is not None and lane.timed:
            lane.flush.cancel()  # the batch is full: no point waiting
            lane.flush = None
        if lane.flush is None:
            lane.flush, lane.timed = loop.call_soon(self._flush, lane), False

    def _flush(self, lane: _Lane) -> None:
        lane.flush = None
        loop = asyncio.get_running_loop()
        batch = self._take(lane)
        if batch:
            parts = [request.rows for request in batch]
            rows = sum(len(part) for part in parts)
            if self._observe is not None:
                self._observe(rows)
            if rows <= self.inline_rows:
                _deliver(batch, _predict_batch(getattr(lane.loaded.model, lane.method), parts))
            else:
                lane.busy = True
                method = getattr(lane.loaded.model, lane.method)
                running = loop.run_in_executor(None, _predict_batch, method, parts)
                running.add_done_callback(lambda done: self._finished(lane, batch, done))
                return
        self._next(loop, lane)

    def _finished(
        self, lane: _Lane, batch: list[_Request], done: "asyncio.Future[list[Rows | Exception]]"
    ) -> None:
        lane.busy = False
        try:
            answers: Sequence[Rows | BaseException] = done.result()
        except BaseException as exc:  # cancelled with the executor, or beyond `Exception`
            answers = [exc] * len(batch)
        _deliver(batch, answers)
        self._next(asyncio.get_running_loop(), lane)

    def _next(self, loop: asyncio.AbstractEventLoop, lane: _Lane) -> None:
        """Schedule the next batch of this lane, or drop the lane when it has no work."""
        if lane.waiting:
            self._schedule(loop, lane)
        elif not lane.busy and lane.flush is None:
            del self._lanes[lane.key]

    def _take(self, lane: _Lane) -> list[_Request]:
        """Whole requests from the head of the queue, up to `max_rows` (a bigger request
        goes alone); requests whose caller has gone away are dropped."""
        batch: list[_Request] = []
        rows = 0
        waiting = lane.waiting
        while waiting:
            request = waiting[0]
            size = len(request.rows)
            if not request.answer.done():
                if batch and rows + size > self.max_rows:
                    break
                batch.append(request)
                rows += size
            waiting.popleft()
            lane.rows -= size
        return batch


def _predict_batch(predict: Callable[[Rows], Any], parts: list[Rows]) -> list[Rows | Exception]:
    """One `predict` call over all parts, split back per part. If it raises (or answers with the
    wrong number of rows), each part is predicted alone, so only a part the model rejects
    gets an exception. Runs on the loop or in a worker thread; never raises."""
    if len(parts) > 1:
        try:
            merged = np.asarray(predict(np.concatenate(parts)))
            if len(merged) == sum(len(part) for part in parts):
                answers: list[Rows | Exception] = []
                start = 0
                for part in parts:
                    answers.append(merged[start : start + len(part)])
                    start += len(part)
                return answers
            log.debug("a batch of %d parts answered %d rows: predicting each alone", len(parts), len(merged))
        except Exception as exc:  # model code: anything can fail, and one part may be the cause
            log.debug("a batch of %d parts failed (%s): predicting each alone", len(parts), exc)
    return [_predict_one(predict, part) for part in parts]


def _predict_one(predict: Callable[[Rows], Any], rows: Rows) -> Rows | Exception:
    try:
        return np.asarray(predict(rows))
    except Exception as exc:  # handed to the request's caller, which maps it to a response
        return exc


def _deliver(batch: list[_Request], answers: Sequence[Rows | BaseException]) -> None:
    for request, answer in zip(batch, answers, strict=True):
        if request.answer.done():
            continue  # its caller went away while the batch ran
        if isinstance(answer, BaseException):
            request.answer.set_exception(answer)
        else:
            request.answer.set_result(answer)
