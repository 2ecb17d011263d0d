"""The batcher merges concurrent predicts per loaded model and splits the answers back.

Real scikit-learn models, wrapped so every `predict` call they receive is kept: the tests see
the batches themselves, not just the answers. Requests are interleaved by yielding to the
event loop (`asyncio.sleep(0)`: one loop turn, not a timed wait).
"""

import asyncio
import threading
import weakref
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from support.distinct_models import iris_rows, picky_iris_model, relabelled_iris_model
from support.models import iris_model

from regwatch.serving import Batcher, LoadedModel

# Three real models, each trained on iris moved to a range of its own (rows of model k lie
# in [100k, 100k + 8], negated when the request is one the picky model rejects).
OFFSETS = (0.0, 100.0, 200.0)
MODELS = (iris_model(), relabelled_iris_model(OFFSETS[1]), picky_iris_model(OFFSETS[2]))
PICKY = 2


class Recorded:
    """A real model whose predict calls are kept (rows, thread); with a gate, each call
    waits for it to open, so a test can act while a predict is running."""

    def __init__(self, model: Any, gate: threading.Event | None = None) -> None:
        self.model = model
        self.gate = gate
        self.entered = threading.Event()
        self.calls: list[tuple[np.ndarray, int]] = []

    def predict(self, rows: np.ndarray) -> Any:
        self.calls.append((rows.copy(), threading.get_ident()))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        return self.model.predict(rows)

    @property
    def sizes(self) -> list[int]:
        return [len(rows) for rows, _ in self.calls]


def loaded(k: int, version: str | None = None, gate: threading.Event | None = None) -> LoadedModel:
    return LoadedModel(
        version=version or f"{k + 1}.0.0", model=Recorded(MODELS[k], gate), fingerprint=(k,), n_features=4
    )


def recorder(model: LoadedModel) -> Recorded:
    assert isinstance(model.model, Recorded)
    return model.model


def rows_for(k: int, indices: list[int], rejected: bool = False) -> np.ndarray:
    return iris_rows(indices, OFFSETS[k], rejected)


def alone(k: int, rows: np.ndarray) -> np.ndarray | Exception:
    try:
        return np.asarray(MODELS[k].predict(rows))
    except ValueError as exc:
        return exc


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# -- the property -------------------------------------------------------------------------

# One request: (model, iris row indices, rows the picky model rejects?, loop turns before it).
REQUEST = st.tuples(
    st.integers(0, 2),
    st.lists(st.integers(0, 149), min_size=1, max_size=5),
    st.booleans(),
    st.integers(0, 3),
)


@given(
    script=st.lists(REQUEST, min_size=1, max_size=25),
    max_rows=st.integers(1, 12),
    inline_rows=st.sampled_from([0, 4, 64]),
    max_wait=st.sampled_from([0.0, 0.002]),
)
@settings(max_examples=150, deadline=None)
def test_any_interleaving_answers_like_predicting_each_request_alone(script, max_rows, inline_rows, max_wait):
    models = [loaded(k) for k in range(3)]
    batcher = Batcher(max_rows=max_rows, max_wait=max_wait, inline_rows=inline_rows)
    requests = [(k, rows_for(k, indices, rejected)) for k, indices, rejected, _ in script]

    async def scenario() -> list[Any]:
        tasks = []
        for (k, rows), (*_, wait) in zip(requests, script, strict=True):
            await turns(wait)
            tasks.append(asyncio.create_task(batcher.predict(models[k], rows)))
        return await asyncio.gather(*tasks, return_exceptions=True)

    answers = asyncio.run(scenario())

    for (k, rows), answer in zip(requests, answers, strict=True):
        expected = alone(k, rows)
        if isinstance(expected, Exception):
            assert type(answer) is type(expected) and str(answer) == str(expected)
        else:
            assert isinstance(answer, np.ndarray) and answer.tolist() == expected.tolist()
    largest = max(len(rows) for _, rows in requests)
    for k, model in enumerate(models):
        for rows, _ in recorder(model).calls:
            magnitude = np.abs(rows)  # every row of a call was meant for this model
            assert ((magnitude >= OFFSETS[k]) & (magnitude <= OFFSETS[k] + 8)).all()
            assert len(rows) <= max(max_rows, largest)


# -- merging ------------------------------------------------------------------------------


async def test_requests_of_one_loop_turn_share_one_predict_call():
    model = loaded(0)
    batcher = Batcher(max_rows=64)
    requests = [rows_for(0, [i, i + 50]) for i in range(10)]

    answers = await asyncio.gather(*(batcher.predict(model, rows) for rows in requests))

    assert recorder(model).sizes == [20]
    for rows, answer in zip(requests, answers, strict=True):
        assert answer.tolist() == MODELS[0].predict(rows).tolist()


async def test_a_request_that_arrives_alone_is_predicted_without_waiting():
    batcher = Batcher(max_rows=64)  # max_wait 0: no timer anywhere
    alone_request = asyncio.create_task(batcher.predict(loaded(0), rows_for(0, [0])))
    await turns(3)
    assert alone_request.done()


async def test_max_wait_holds_a_batch_open_until_it_is_full():
    model = loaded(0)
    batcher = Batcher(max_rows=3, max_wait=60.0)
    first = asyncio.create_task(batcher.predict(model, rows_for(0, [0])))
    await turns(3)
    assert not first.done()  # waiting for company

    rest = [asyncio.create_task(batcher.predict(model, rows_for(0, [i]))) for i in (60, 120)]
    await asyncio.wait_for(asyncio.gather(first, *rest), timeout=30)

    assert recorder(model).sizes == [3]


async def test_max_wait_merges_requests_from_different_loop_turns():
    model = loaded(0)
    batcher = Batcher(max_rows=64, max_wait=0.5)
    first = asyncio.create_task(batcher.predict(model, rows_for(0, [0])))
    await turns(3)
    second = asyncio.create_task(batcher.predict(model, rows_for(0, [100])))

    assert [a.tolist() for a in await asyncio.gather(first, second)] == [[0], [2]]
    assert recorder(model).sizes == [2]


async def test_the_row_limit_splits_between_whole_requests():
    model = loaded(0)
    batcher = Batcher(max_rows=4)
    sizes = [1, 1, 1, 1, 1, 6, 2, 3]  # the 6-row request is bigger than the limit: alone

    answers = await asyncio.gather(*(batcher.predict(model, rows_for(0, list(range(n)))) for n in sizes))

    assert recorder(model).sizes == [4, 1, 6, 2, 3]  # 1 + 6 > 4, and 2 + 3 > 4
    assert [len(a) for a in answers] == sizes


async def test_a_batch_size_of_one_row_turns_merging_off():
    model = loaded(0)
    batcher = Batcher(max_rows=1)
    await asyncio.gather(*(batcher.predict(model, rows_for(0, [i])) for i in range(5)))
    assert recorder(model).sizes == [1] * 5


# -- failures, versions, threads ----------------------------------------------------------


async def test_a_request_the_model_rejects_fails_alone():
    model = loaded(PICKY)
    batcher = Batcher(max_rows=64)
    good, bad = rows_for(PICKY, [0, 1]), rows_for(PICKY, [2], rejected=True)

    answers = await asyncio.gather(
        batcher.predict(model, good), batcher.predict(model, bad), batcher.predict(model, good),
        return_exceptions=True,
    )  # fmt: skip

    assert answers[0].tolist() == answers[2].tolist() == MODELS[PICKY].predict(good).tolist()
    assert isinstance(answers[1], ValueError) and "unknown categories" in str(answers[1])
    assert recorder(model).sizes == [5, 2, 1, 2]  # the merged call failed, then one each


async def test_no_batch_mixes_two_loaded_models_even_of_one_version():
    # The same version loaded twice (its folder changed): two objects, two batches.
    before, after = loaded(0, version="1.0.0"), loaded(1, version="1.0.0")
    batcher = Batcher(max_rows=64)
    calls = [(before, rows_for(0, [i])) if i % 2 else (after, rows_for(1, [i])) for i in range(10)]

    answers = await asyncio.gather(*(batcher.predict(model, rows) for model, rows in calls))

    assert recorder(before).sizes == recorder(after).sizes == [5]
    for (model, rows), answer in zip(calls, answers, strict=True):
        k = 0 if model is before else 1
        assert answer.tolist() == MODELS[k].predict(rows).tolist()


async def test_large_batches_predict_in_a_thread_while_the_next_batch_forms():
    gate = threading.Event()
    model = loaded(0, gate=gate)
    batcher = Batcher(max_rows=64, inline_rows=2)
    large = asyncio.create_task(batcher.predict(model, rows_for(0, [0, 50, 100])))
    await asyncio.to_thread(recorder(model).entered.wait, 30)  # running in a worker thread

    later = [asyncio.create_task(batcher.predict(model, rows_for(0, [i]))) for i in range(4)]
    await turns(3)
    assert recorder(model).sizes == [3]  # the loop is free; the new requests wait their turn
    gate.set()
    await asyncio.gather(large, *later)

    assert recorder(model).sizes == [3, 4]
    assert all(thread != threading.get_ident() for _, thread in recorder(model).calls)
    assert large.result().tolist() == [0, 1, 2]


async def test_small_batches_predict_on_the_event_loop():
    model = loaded(0)
    await Batcher(max_rows=64, inline_rows=2).predict(model, rows_for(0, [0, 1]))
    assert [thread for _, thread in recorder(model).calls] == [threading.get_ident()]


async def test_a_caller_that_goes_away_is_dropped_from_its_batch():
    model = loaded(0)
    batcher = Batcher(max_rows=3, max_wait=60.0)
    gone = asyncio.create_task(batcher.predict(model, rows_for(0, [0])))
    staying = asyncio.create_task(batcher.predict(model, rows_for(0, [50])))
    await turns(3)
    gone.cancel()
    last = asyncio.create_task(batcher.predict(model, rows_for(0, [100])))  # 3 rows: the batch goes

    assert [a.tolist() for a in await asyncio.gather(staying, last)] == [[1], [2]]
    assert recorder(model).sizes == [2]
    assert gone.cancelled()


async def test_a_model_whose_requests_are_answered_is_no_longer_held():
    model = loaded(0)
    batcher = Batcher(max_rows=64)
    await asyncio.gather(*(batcher.predict(model, rows_for(0, [i])) for i in range(3)))
    held = weakref.ref(model.model)
    del model
    assert held() is None
