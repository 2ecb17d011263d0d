"""A model whose batch predictions wait for the test: a request provably in flight.

`predict` of more than one row opens a FIFO for reading, which blocks until the test opens
it for writing (so the test knows the prediction has started), then reads until the test
closes it (so the test decides when it finishes). Single rows (warm-up) answer at once.
The server process imports it from `tests/` (PYTHONPATH), as it would any model class.

`LoadGatedModel` waits the same way while it is *loaded*, in the processes told to.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sklearn.linear_model import LogisticRegression

from .models import iris_model


class GatedModel:
    n_features_in_ = 4

    def __init__(self, gate: Path) -> None:
        self.gate = str(gate)

    def predict(self, rows: Any) -> list[int]:
        if len(rows) > 1:
            with open(self.gate, "rb") as gate:
                gate.read()
        return [0] * len(rows)


LOAD_GATE_ENV = "REGWATCH_TEST_LOAD_GATE"


class LoadGatedModel(LogisticRegression):
    """An iris model whose unpickling waits for the test in a process that has
    `REGWATCH_TEST_LOAD_GATE` set (elsewhere it loads at once): one replica of a fleet that
    loads much more slowly than the others, on the same shared file."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        gate = os.environ.get(LOAD_GATE_ENV)
        if gate:
            with open(gate, "rb") as fifo:
                fifo.read()
        super().__setstate__(state)


def load_gated_model() -> LoadGatedModel:
    model = LoadGatedModel(max_iter=500)
    model.__dict__.update(iris_model().__dict__)
    return model


class LoadGate:
    """The FIFO a `LoadGatedModel` load waits on. `wait_blocked()` returns once a load opened
    it (so the test knows the slow load is under way); `release()` lets that load finish
    and every later one pass at once (a regular file replaces the FIFO)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self._writer: int | None = None

    def wait_blocked(self, timeout: float = 30.0) -> None:
        with ThreadPoolExecutor(1) as pool:
            opening = pool.submit(os.open, self.path, os.O_WRONLY)  # returns once a reader is there
            try:
                self._writer = opening.result(timeout)
            except TimeoutError:
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))  # unblock the opener
                os.close(opening.result())
                raise TimeoutError(f"no load opened {self.path} within {timeout} s") from None

    def release(self) -> None:
        passed = self.path.with_name(self.path.name + ".passed")
        passed.write_bytes(b"")
        passed.rename(self.path)  # later loads open a plain empty file
        if self._writer is not None:
            os.close(self._writer)  # the load under way reads its end of file
            self._writer = None
