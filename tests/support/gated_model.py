"""A model whose batch predictions wait for the test: a request provably in flight.

`predict` of more than one row opens a FIFO for reading, which blocks until the test opens
it for writing (so the test knows the prediction has started), then reads until the test
closes it (so the test decides when it finishes). Single rows (warm-up) answer at once.
The server process imports it from `tests/` (PYTHONPATH), as it would any model class.
"""

from pathlib import Path
from typing import Any


class GatedModel:
    n_features_in_ = 4

    def __init__(self, gate: Path) -> None:
        self.gate = str(gate)

    def predict(self, rows: Any) -> list[int]:
        if len(rows) > 1:
            with open(self.gate, "rb") as gate:
                gate.read()
        return [0] * len(rows)
