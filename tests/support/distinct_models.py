"""Real iris models that answer differently, for tests where a row answered by the wrong
model, or merged with a row the model rejects, has to show.

`relabelled_iris_model` is trained with every label shifted by one, so it disagrees with
`iris_model` on 149 of the 150 iris rows; `picky_iris_model` one-hot encodes the feature values it was
trained on and refuses any other value with a ValueError: a request a model rejects.
`offset` moves a model's training data (and `iris_rows`' rows) to a range of its own, so a
test can tell from the rows alone which model they were meant for.
"""

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def relabelled_iris_model(offset: float = 0.0) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        IRIS_X + offset, (IRIS_Y + 1) % 3
    )


def picky_iris_model(offset: float = 0.0) -> Pipeline:
    return make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression(max_iter=500)).fit(
        IRIS_X + offset, IRIS_Y
    )


def iris_rows(indices: list[int], offset: float = 0.0, rejected: bool = False) -> np.ndarray:
    """Rows of the iris data set (plus `offset`); `rejected` negates them: values the picky
    model never saw."""
    return (IRIS_X[indices] + offset) * (-1.0 if rejected else 1.0)
