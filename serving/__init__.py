"""The serving core between the registry index and HTTP: what serves, and how it changes.

No FastAPI here: the HTTP layer (`regwatch.api`) calls into this package, never the reverse.
"""

from .batching import Batcher
from .errors import NoModelServing
from .live import LiveModel
from .loading import LoadedModel, LoadError, load_model
from .supervisor import RestartPolicy, Supervisor, TaskFailed, TaskHealth, TaskState
from .sync import RegistrySync

__all__ = [
    "Batcher",
    "LiveModel",
    "LoadError",
    "LoadedModel",
    "NoModelServing",
    "RegistrySync",
    "RestartPolicy",
    "Supervisor",
    "TaskFailed",
    "TaskHealth",
    "TaskState",
    "load_model",
]
