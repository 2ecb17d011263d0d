"""The serving core between the registry index and HTTP: what serves, and how it changes.

No FastAPI here: the HTTP layer (`regwatch.api`) calls into this package, never the reverse.
"""

from .batching import Batcher
from .errors import LoadCancelled, LoadError, LoadPending, ModelNotFound, NoModelServing
from .formats import UnsupportedModel, load_model_bytes
from .live import LiveModel
from .loading import LoadedModel, ModelLoad
from .models import ServedModels
from .policy import LoadPolicy, default_memory_limit
from .served import ServedModel
from .supervisor import RestartPolicy, Supervisor, TaskFailed, TaskHealth, TaskState
from .sync import PARALLEL_INSPECTIONS, RegistrySync

__all__ = [
    "PARALLEL_INSPECTIONS",
    "Batcher",
    "LiveModel",
    "LoadCancelled",
    "LoadError",
    "LoadPending",
    "LoadPolicy",
    "LoadedModel",
    "ModelLoad",
    "ModelNotFound",
    "NoModelServing",
    "RegistrySync",
    "RestartPolicy",
    "ServedModel",
    "ServedModels",
    "Supervisor",
    "TaskFailed",
    "TaskHealth",
    "TaskState",
    "UnsupportedModel",
    "default_memory_limit",
    "load_model_bytes",
]
