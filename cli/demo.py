"""The demo model: a small classifier trained on a data set that ships with scikit-learn."""

from typing import Any

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def train_demo_model(seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Iris, scaled logistic regression: trains in milliseconds, predicts 4 features -> class."""
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    model.fit(x_train, y_train)
    metadata = {
        "description": "demo: iris species from sepal/petal measurements (logistic regression)",
        "dataset": "iris",
        "feature_names": list(data.feature_names),
        "target_names": list(data.target_names),
        "metrics": {"accuracy": round(float(model.score(x_test, y_test)), 4)},
    }
    return model, metadata
