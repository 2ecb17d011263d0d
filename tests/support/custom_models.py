"""An estimator class of our own: a type outside skops' trusted defaults, with no skl2onnx
converter. Importable by the probe child (it lives in `support`, like the hostile models)."""

from sklearn.linear_model import LogisticRegression

from .models import iris_model


class CustomLogistic(LogisticRegression):
    """A logistic regression under another name: only its type is new."""


CUSTOM_TYPE = f"{CustomLogistic.__module__}.{CustomLogistic.__qualname__}"


def custom_model() -> CustomLogistic:
    fitted = iris_model()
    model = CustomLogistic(max_iter=500)
    model.__dict__.update(fitted.__dict__)
    return model
